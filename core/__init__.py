"""All the workbench's logic, in layered packages; nothing here imports streamlit.

Each package imports only the packages below it (``tests/test_architecture.py``
holds the order and checks it)::

    jobs                              background lanes: training queue, scoring queue
    serving · training                classify images; train, resume, checkpoint
    evaluation                        scoring, metrics tables, ensembles, reports
    explore · runs · sources          EDA; run folders and records; where datasets come from
    data                              decoding, dataset catalog, stores, test sets
    models                            the detector registry, one file per detector
    settings · metrics · processes    leaves

The few modules left at this level (``train``, ``predict``, ``report``, ``download``,
``memory``, ``robustness``, ``score_jobs``) only forward the documented commands
(``python -m core.train`` ...) to the package that does the work; nothing imports them.
TensorFlow is imported only inside the modules and functions that train or predict,
so the light pages stay light.
"""
