"""The quality study behind scripts/study.py: several configurations trained on the same data with
the same seed and iteration budget, each evaluated at fixed iteration counts, the results written
as a CSV, a Markdown report, plots and sample grids. An interrupted study continues where it
stopped. The user documentation is scripts/study.py's docstring (docs/evaluation.md,
docs/results.md); the parts:

- `study.configs`: the configurations (the default study, a --configs file, --only), the checks
  of the flags and the settings a rerun must repeat (study.json);
- `study.runner`: each configuration's training run (train.py in a child process, its schedule,
  resume and the pruning of checkpoints) and `run_study`, the study from start to end;
- `study.evaluation`: `Evaluator`, the metrics of metrics/evaluation.py on each checkpoint, and
  the scores against the truth of a ground-truth set (`truth_scores`, the floor and ceiling)
  and its aliasing measures (`clip_scores`: flicker on clips; `grid_scores`: the checkerboard);
- `study.report`: study.csv, study.md, kid.png, ground_truth.png and the sample grids;
- `study.error_parts`: where a translation's error against the truth lies (colour, detail or
  scene), run on its own as `python -m study.error_parts`;
- `study.paired_bound`: what a run's generator reaches when trained on the ground-truth pairs
  (the answer given), run on its own as `python -m study.paired_bound`;
- `study.aliasing_figure`, `study.figure`: pictures of a study's translations, run on their own;
- `study.temporal`: what convert.py's `--temporal` does on clips with a known answer, with a
  study's trained models, run on its own as `python -m study.temporal`;
- `study.common`: the log lines, quiet parsing and atomic text files they share.

Layering: this package uses util/, data/, models/, inference/, metrics/ and options/; only
scripts/study.py (and tests/) import it. tests/test_layers.py checks that.
"""
