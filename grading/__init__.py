"""Answer extraction and grading, shared by curation (the difficulty filter), the s1 study, the
strategy study and IBPO: one rule for every number the toolkit reports. Nothing here imports a stage."""
