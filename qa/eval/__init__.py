"""The evaluation suite behind `qa eval`: known facts in, metrics with intervals and a report out.

One concept per module: `facts` (the fact format, loading and checks),
`splits` (the fixed dev/test halves of the external sets), `datasets` (SQuAD
2.0 and RGB turned into facts and articles), `metrics` (answer matching,
bootstrap intervals), `evidence` (citations scored against gold evidence),
`judge` (the support judge, ALCE citation scores and the judge's own check on
dev and test cases), `runner` (asks the questions, kept/caught and the other metrics),
`report` (terminal table, JSON, Markdown, PNG), `compare` (two runs side by
side) and `cli` (the `qa eval` verb). It calls `qa.api`; nothing in `qa`
outside this package imports it except the CLI.
"""
