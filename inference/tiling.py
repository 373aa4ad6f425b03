"""A network on overlapping tiles of a large frame, blended with linear ramps.

- `tile_starts`: where the fewest tiles that cover a side start;
- `tile_ramp`: a tile's blending weights along one axis;
- `translate_tiled`: a function of a batch applied whole or tile by tile, the tiles' outputs
  blended, so that network memory is that of one tile.
"""
import torch


def tile_starts(length, tile, overlap):
    """Start offsets of the fewest tiles of `tile` px that cover `length` px with neighbours
    overlapping by at least `overlap`, spread evenly from edge to edge. All are multiples of 4
    when the arguments are, so every tile sits on the whole frame's pixel grid."""
    if length <= tile:
        return [0]
    span, stride = (length - tile) // 4, (tile - overlap) // 4  # in steps of 4 px
    gaps = -(-span // stride)
    return [4 * (i * span // gaps) for i in range(gaps + 1)]


def tile_ramp(length, start, size, overlap, device=None):
    """Blending weights of a tile along one axis: 1 inside, falling linearly over `overlap` px
    towards each side that has a neighbour, never 0. Where two tiles overlap by exactly `overlap`
    their weights add up to 1; elsewhere the blend divides by the sum of weights."""
    i = torch.arange(size, dtype=torch.float32, device=device)
    weight = torch.ones(size, device=device)
    if start > 0:
        weight = torch.minimum(weight, (i + 1) / (overlap + 1))
    if start + size < length:
        weight = torch.minimum(weight, (size - i) / (overlap + 1))
    return weight


def translate_tiled(fn, x, tile=0, overlap=0):
    """Apply `fn` ((N, C, h, w) -> tuple of (N, c, h, w) tensors or None) to `x` (N, C, H, W),
    whole when tile is 0 or x fits in one tile, else tile by tile, blending the tiles' outputs
    with `tile_ramp` weights. Network memory is that of one tile; the outputs are float32.

    With normalisation that has no per-image statistics (--norm none, or batch norm in eval mode)
    tiles agree with the whole frame away from their borders; instance norm normalises each tile
    by its own statistics, so their tones may differ (the blending hides the seams).
    """
    H, W = x.shape[-2:]
    if not tile or (H <= tile and W <= tile):
        return tuple(None if out is None else out.float() for out in fn(x))
    th, tw = min(tile, H), min(tile, W)
    sums, total = None, torch.zeros(H, W, device=x.device)
    columns = [(x0, tile_ramp(W, x0, tw, overlap, x.device)[None, :]) for x0 in tile_starts(W, tw, overlap)]
    for y in tile_starts(H, th, overlap):
        wy = tile_ramp(H, y, th, overlap, x.device)[:, None]
        for x0, wx in columns:
            weight = wy * wx
            outs = fn(x[..., y:y + th, x0:x0 + tw].contiguous())  # convolutions run slower on a view
            if sums is None:
                sums = [None if out is None else torch.zeros(*out.shape[:2], H, W, device=x.device)
                        for out in outs]
            for acc, out in zip(sums, outs):
                if out is not None:
                    acc[..., y:y + th, x0:x0 + tw] += out.float() * weight
            total[y:y + th, x0:x0 + tw] += weight
    return tuple(None if acc is None else acc / total for acc in sums)
