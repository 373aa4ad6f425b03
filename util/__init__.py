"""Small helpers shared by training, testing and the scripts: image conversion, HTML pages,
training-time reporting (util/reporting/: loss log, plot, web page, visdom, wandb), atomic file
writes, the image pool and error types."""
