"""Small helpers shared by training, testing and the scripts: image conversion, HTML pages,
the run visualizer (loss log, web page, visdom, wandb), the image pool and error types."""
