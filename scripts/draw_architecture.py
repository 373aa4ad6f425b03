"""Draw AU-GAN's A->B generator (G_A) as the code builds it: assets/augan_generator.png.

    python scripts/draw_architecture.py [--out assets/augan_generator.png] [-- extra model flags]

The figure is read off the real network, not drawn by hand: the AU-GAN model is created with
the default options (or with the flags after `--`, e.g. `-- --ngf 32 --upsample transposed`),
every layer box is described from the modules of `netG_A` (convolution kernels, strides,
dilations, channels, upsampling, activations, noise) and every feature size comes from a
forward pass of a `--crop_size` image. Re-run it when models/generators.py changes.
"""
import argparse
import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from models import create_model  # noqa: E402
from options.test_options import TestOptions  # noqa: E402

# Stages of a ForkGenerator (attribute name -> title, box colour), in drawing order.
STAGES = {'encoder': ('Encoder', '#dbe9f6'), 't_net': ('T-net (feature transfer)', '#fde7c8'),
          'decoder': ('Translation decoder', '#d9f0d3'), 'rec_decoder': ('Reconstruction decoder', '#eadcf2'),
          'sigma_head': ('Uncertainty head', '#f9d5d3')}
ACTIVATIONS = {nn.ReLU: 'ReLU', nn.Tanh: 'tanh', nn.Softplus: 'softplus', nn.Sigmoid: 'sigmoid'}


def build_generator(flags):
    """G_A of the AU-GAN model built from the default options (plus `flags`), and those options."""
    opt = TestOptions().parse(['--dataroot', '.', '--model', 'au_gan', '--gpu_ids', '-1', *flags], save=False)
    model = create_model(opt)
    return model.netG_A.eval(), opt


def _first(v):
    return v[0] if isinstance(v, (tuple, list)) else v


def _is_conv(m):
    weight = getattr(m, 'weight', None)
    return torch.is_tensor(weight) and weight.dim() == 4


def describe_leaf(m):
    """Text for one leaf module, or None for what the figure leaves out (padding, norms)."""
    if _is_conv(m):
        cout, cin, k = m.weight.shape[0], m.weight.shape[1], m.weight.shape[-1]
        kind = 'conv'
        if isinstance(m, nn.ConvTranspose2d):  # its weight is (in, out, k, k)
            cin, cout, kind = cout, cin, 'transposed conv'
        stride, dilation = int(_first(getattr(m, 'stride', 1))), int(_first(getattr(m, 'dilation', 1)))
        return (f'{kind} {k}×{k}' + (f' /{stride}' if stride > 1 else '') +
                (f' dil {dilation}' if dilation > 1 else '') + f', {cin}→{cout}')
    if isinstance(m, nn.Upsample):
        return f'upsample ×{int(m.scale_factor)} {m.mode}'
    if type(m) in ACTIVATIONS:
        return ACTIVATIONS[type(m)]
    if type(m).__name__ == 'GaussianNoise':
        return f'+ noise, std {m.std:g} (training)' if m.std > 0 else None
    return None


def describe_block(block):
    """One line for a block: its leaves joined in order, activations after a comma."""
    leaves = [m for m in block.modules() if not list(m.children())]
    if type(block).__name__ == 'ResidualBlock':
        convs = [describe_leaf(m) for m in leaves if _is_conv(m)]
        return f'residual block: {len(convs)} × {convs[0]}'
    text = ''
    for m in leaves:
        part = describe_leaf(m)
        if part:
            text = part if not text else text + (', ' if type(m) in ACTIVATIONS else ' + ') + part
    return text or None


def stage_lines(generator, n_channels, size):
    """({stage: [(text, count, output size)]}, input size of the uncertainty head) from the
    modules and one forward pass."""
    blocks = {}
    for stage in STAGES:
        module = getattr(generator, stage, None)
        if module is None:
            continue
        children = []
        for child in module.children():
            children += list(child) if isinstance(child, nn.ModuleList) else [child]
        blocks[stage] = children
    shapes = {}
    hooks = [b.register_forward_hook(lambda mod, inp, out, key=id(b): shapes.__setitem__(key, tuple(out.shape)))
             for children in blocks.values() for b in children]
    if generator.sigma_head is not None:  # what the uncertainty head reads
        hooks.append(generator.sigma_head.register_forward_pre_hook(
            lambda mod, inp: shapes.__setitem__('sigma_head input', tuple(inp[0].shape))))
    with torch.no_grad():
        generator(torch.zeros(1, n_channels, size, size))
    for h in hooks:
        h.remove()

    lines = {}
    for stage, children in blocks.items():
        rows = []
        for b in children:
            text = describe_block(b)
            if text is None:
                continue
            shape = shapes.get(id(b))
            where = f'{shape[1]}×{shape[2]}×{shape[3]}' if shape else ''
            if rows and type(b) in ACTIVATIONS:  # e.g. the uncertainty head's final softplus
                rows[-1][0] += ', ' + text
                rows[-1][2] = where
            elif rows and rows[-1][0] == text and rows[-1][2] == where:
                rows[-1][1] += 1  # a run of equal blocks: "4 × ..."
            else:
                rows.append([text, 1, where])
        lines[stage] = rows
    head_input = shapes.get('sigma_head input')
    return lines, head_input and '×'.join(map(str, head_input[1:]))


def box_text(stage, rows):
    title = STAGES[stage][0]
    body = [(f'{n} × ' if n > 1 else '') + text + (f'   → {where}' if where else '') for text, n, where in rows]
    return '\n'.join([title, *body])


def draw(generator, opt, out):
    """Draw the figure in pixel units: boxes are sized by their text, then laid out in rows."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    lines, head_input = stage_lines(generator, opt.input_nc, opt.crop_size)
    dpi, height, gap, margin = 110, 820, 70, 20
    fig = Figure(figsize=(2000 / dpi, height / dpi), dpi=dpi)
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_axes([0, 0, 1, 1])
    ax.axis('off')
    rows_y = {'top': height - 150, 'main': height / 2 - 30, 'bottom': 120}

    def box(text, colour, row):
        return ax.text(0, rows_y[row], text, ha='center', va='center', fontsize=8, linespacing=1.6,
                       bbox=dict(boxstyle='round,pad=0.6', fc=colour, ec='#555555', lw=0.8))

    def extent(t):  # (left, bottom, right, top) in pixels, which are the data units here
        e = t.get_bbox_patch().get_window_extent(canvas.get_renderer())
        return e.x0, e.y0, e.x1, e.y1

    def place(t, left):
        canvas.draw()
        x0, _, x1, _ = extent(t)
        t.set_x(left + (x1 - x0) / 2)
        return left + (x1 - x0)

    def arrow(src, dst, src_at=(1, 0.5), dst_at=(0, 0.5), style='arc3'):
        ax.annotate('', xy=dst_at, xycoords=dst, xytext=src_at, textcoords=src,
                    arrowprops=dict(arrowstyle='-|>', color='#333333', lw=1.1, connectionstyle=style,
                                    shrinkA=2, shrinkB=2))

    ax.set_xlim(0, 2000)
    ax.set_ylim(0, height)
    main = [box(f'x_A\n{opt.input_nc}×{opt.crop_size}×{opt.crop_size}', '#ffffff', 'main')]
    main += [box(box_text(stage, lines[stage]), STAGES[stage][1], 'main')
             for stage in ('encoder', 't_net', 'decoder') if stage in lines]
    main.append(box('fake_B = G_A(x_A)\ntranslation', '#ffffff', 'main'))
    x = margin
    for t in main:
        x = place(t, x) + gap
    encoder, decoder = main[1], main[-2]
    rec_decoder = box(box_text('rec_decoder', lines['rec_decoder']), STAGES['rec_decoder'][1], 'bottom')
    right = place(rec_decoder, extent(main[2])[0])  # under whatever follows the encoder
    rec = box('rec_A\nreconstruction of x_A', '#ffffff', 'bottom')
    right = max(right, place(rec, right + gap), x - gap)
    for a, b in zip(main, main[1:]):
        arrow(a, b)
    arrow(encoder, rec_decoder, src_at=(0.5, 0), style='angle,angleA=-90,angleB=180,rad=0')
    arrow(rec_decoder, rec)
    if 'sigma_head' in lines:
        head = box(box_text('sigma_head', lines['sigma_head']), STAGES['sigma_head'][1], 'top')
        canvas.draw()
        d0, _, d1, d_top = extent(decoder)
        h0, h_bottom, h1, _ = extent(head)
        place(head, (d0 + d1) / 2 - (h1 - h0) / 2)
        sigma = box('σ ≥ 0 per pixel, 1×H×W:\nhow uncertain fake_B is\n(weights the cycle loss)', '#ffffff', 'top')
        right = max(right, place(sigma, (d0 + d1) / 2 + (h1 - h0) / 2 + gap))
        centre = (d0 + d1) / 2
        ax.annotate('', xy=(centre, h_bottom), xytext=(centre, d_top),
                    arrowprops=dict(arrowstyle='-|>', color='#333333', lw=1.1, shrinkA=2, shrinkB=2))
        ax.text(centre + 8, (h_bottom + d_top) / 2, f'decoder features\n{head_input}', fontsize=7,
                va='center', color='#555555')
        arrow(head, sigma)

    params = sum(p.numel() for p in generator.parameters())
    ax.text(margin, height - 25, f'AU-GAN generator G_A (night → day) as models/generators.py builds it with '
                                 f'--ngf {opt.ngf} --norm {opt.norm} --upsample {opt.upsample}: '
                                 f'{params / 1e6:.2f} M parameters', fontsize=10, fontweight='bold', va='top')
    ax.text(margin, height - 55, f'Each layer with its output size (channels×height×width) for a {opt.crop_size}×'
                                 f'{opt.crop_size} input. G_B (day → night) is the same fork generator without '
                                 'T-net and uncertainty head.', fontsize=8, va='top', color='#333333')
    width = right + margin
    fig.set_size_inches(width / dpi, height / dpi)
    ax.set_xlim(0, width)  # still one data unit per pixel
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    fig.savefig(out, format='png')
    return out


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    flags = argv[argv.index('--') + 1:] if '--' in argv else []
    own = argv[:argv.index('--')] if '--' in argv else argv
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--out', default=os.path.join('assets', 'augan_generator.png'), help='PNG to write')
    args = parser.parse_args(own)
    generator, opt = build_generator(flags)
    print(f'wrote {draw(generator, opt, args.out)}')


if __name__ == '__main__':
    main()
