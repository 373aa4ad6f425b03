"""The official AU-GAN (TensorFlow, github jgkwak95/AU-GAN), read by this project.

The one place that knows the official code's formats, as stylegan3's legacy.py does for its
predecessors' pickles: `tf_checkpoint` reads TensorFlow V2 checkpoints with NumPy alone,
`weights` maps the official variable names onto this project's networks, and `importer` turns a
checkpoint into a run folder. It imports util/, models/ and options/; only scripts/ (the CLI
scripts/import_official.py) and tests/ import it.
"""
