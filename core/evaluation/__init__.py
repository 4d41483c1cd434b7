"""Scoring saved runs and comparing them: scores, tables, ensembles, robustness, reports.

May import: runs, sources, explore, data and below.
"""
