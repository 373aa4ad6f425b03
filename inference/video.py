"""Frame-by-frame video decoding and encoding with PyAV (imported only when a video comes, so
image-only runs need no FFmpeg).

- `VideoReader`: the frames of a file's first video stream as RGB PIL images;
- `VideoWriter`: PIL frames encoded into a file (libx264 where it can, else MPEG-4 part 2),
  written under a temporary name and renamed into place on a clean finish.
"""
import os
from fractions import Fraction

from PIL import Image

from util import atomic
from util.errors import UserError


def _av():
    import av  # imported when a video comes: image-only runs need no FFmpeg
    return av


def _reason(error):
    # FFmpeg's message without the file name that ours already gives.
    return getattr(error, 'strerror', None) or type(error).__name__


class VideoReader:
    """The frames of a file's first video stream as RGB PIL images, decoded as they are iterated.

    `size` (w, h), `rate` (frames per second, a Fraction) and `count` (frames, 0 when the
    container does not say) describe the stream. Unreadable files raise UserError. Audio and
    other streams are ignored.
    """

    def __init__(self, path):
        av = _av()
        self.path = path
        try:
            self.container = av.open(path)
        except (av.error.FFmpegError, OSError) as e:
            raise UserError(f'cannot read video {path} ({_reason(e)}): replace or delete the file') from e
        if not self.container.streams.video:
            self.container.close()
            raise UserError(f'cannot read video {path} (it has no video stream): replace or delete the file')
        self.stream = self.container.streams.video[0]
        self.stream.thread_type = 'AUTO'
        self.size = (self.stream.codec_context.width, self.stream.codec_context.height)
        self.rate = self.stream.average_rate or self.stream.guessed_rate or Fraction(25)
        self.count = self.stream.frames or 0

    def __iter__(self):
        av = _av()
        try:
            for frame in self.container.decode(self.stream):
                yield frame.to_image()
        except av.error.FFmpegError as e:
            raise UserError(f'cannot decode video {self.path} ({_reason(e)}): replace or delete the file') from e

    def close(self):
        self.container.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class VideoWriter:
    """Encodes PIL frames into a video at `path` (container from the extension) at a constant
    `rate`, the size of `size`. libx264 at CRF 18 for .mp4/.mkv/.mov when both sides are even
    and this FFmpeg build has it; otherwise (and for .avi) MPEG-4 part 2 at qscale 3, which
    every player reads and which takes odd sizes. The file is written under a temporary name and
    renamed on a clean exit from the `with` block, removed when it ends with an exception.
    """

    def __init__(self, path, size, rate):
        av = _av()
        self.path, self.size = path, tuple(size)
        folder, name = os.path.split(path)
        stem, ext = os.path.splitext(name)
        # keeps the extension: it picks the container
        self._file = atomic.replacing(path, tmp=os.path.join(folder, f'.{stem}.partial{ext}'))
        self.tmp = self._file.tmp
        codec = _video_codec(ext, self.size)
        # Denominators up to 1001 keep NTSC rates exact and MPEG-4's 16-bit time base valid.
        rate = Fraction(rate).limit_denominator(1001)
        self.container = av.open(self.tmp, 'w')
        self.stream = self.container.add_stream(codec, rate=rate,
                                                options={'crf': '18'} if codec == 'libx264' else {})
        self.stream.width, self.stream.height = self.size
        self.stream.pix_fmt = 'yuv420p'
        if codec == 'mpeg4':
            self.stream.codec_context.qscale = 3
        self.frames = 0

    def write(self, image):
        if image.size != self.size:
            image = image.resize(self.size, Image.BICUBIC)
        frame = _av().VideoFrame.from_image(image.convert('RGB'))
        frame.pts = self.frames
        self.frames += 1
        self.container.mux(self.stream.encode(frame))

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *exc):
        try:
            if exc_type is None:
                self.container.mux(self.stream.encode())  # flush the encoder
            self.container.close()
            if exc_type is None:
                self._file.commit()
        finally:
            self._file.discard()


def _video_codec(ext, size):
    av = _av()
    if ext.lower() != '.avi' and size[0] % 2 == 0 and size[1] % 2 == 0:
        try:
            av.codec.Codec('libx264', 'w')
            return 'libx264'
        except av.codec.codec.UnknownCodecError:
            pass
    return 'mpeg4'
