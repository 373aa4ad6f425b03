"""Running a trained generator on whole images and videos, outside the training data pipeline.

scripts/convert.py is built from these pieces; evaluation, export, the benchmark and the study
reuse them:

- `inference.files`: the inputs an --input names (`find_inputs`), where their outputs go
  (`output_path`, never outside the results folder) and atomic saving of images and arrays;
- `inference.translator`: which generator translates a direction (`generator_name`), images to
  generator inputs and back (`image_transform`, `to_image`, `resize_map`), the `Translator`
  itself, and `prefetch`;
- `inference.tiling`: overlapping tiles blended with linear ramps (`translate_tiled`);
- `inference.video`: `VideoReader` and `VideoWriter` (PyAV);
- `inference.temporal`: a video's translated frames filtered over time along the motion
  (`TemporalFilter`, `filter_frames`: convert.py's --temporal).

Layering: this package uses util/, data/ and models/; nothing below it (util, data, models,
options) imports it. tests/test_layers.py checks that.
"""
from inference.files import (LIST_EXTENSIONS, VIDEO_EXTENSIONS, Input, find_inputs, is_video_file, output_path,
                             save_image_atomic, save_npy_atomic)
from inference.tiling import tile_ramp, tile_starts, translate_tiled
from inference.translator import GENERATORS, Translator, generator_name, image_transform, prefetch, resize_map, to_image
from inference.temporal import TemporalFilter, filter_frames
from inference.video import VideoReader, VideoWriter

__all__ = ['GENERATORS', 'LIST_EXTENSIONS', 'VIDEO_EXTENSIONS', 'Input', 'TemporalFilter', 'Translator',
           'VideoReader', 'VideoWriter', 'filter_frames', 'find_inputs', 'generator_name', 'image_transform',
           'is_video_file', 'output_path', 'prefetch', 'resize_map', 'save_image_atomic', 'save_npy_atomic',
           'tile_ramp', 'tile_starts', 'to_image', 'translate_tiled']
