"""Field names shared by the stages that read other people's benchmark files.

Benchmark files name their question field differently (MATH500: `problem`, GSM8K: `question`, ...);
curation's decontamination and evaluation both look for the first of these a row has.
"""

QUESTION_FIELDS = ("problem", "question", "Problem", "prompt", "input")
