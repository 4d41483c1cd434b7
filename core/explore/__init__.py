"""Statistics for the Data Explorer: balance, pixels, shortcuts, split leakage.

Pure functions returning plain data; the pages only draw them. May import: data and
the layers below it.
"""
