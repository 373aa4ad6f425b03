"""ForkGAN against its official TensorFlow code (zhengziqiang/ForkGAN): the adversarial weights,
the one shared image pool of (A, B) pairs, and the noisy encodings its perceptual and classifier
losses read."""
import math

import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import models
import models.fork_gan_model as fork_gan_model
import train
from conftest import read_losses
from models.fork_gan_model import DISCRIMINATORS, PairPool
from models.losses import as_floats
from options.train_options import TrainOptions
from util.checkpoint import load_network, load_training_state
from util.image_pool import ImagePool

SIZE = 64  # the domain classifier needs 16 px encodings


@pytest.fixture
def root(tmp_path):
    data = tmp_path / 'data'
    for folder, colour in [('trainA', (30, 40, 80)), ('trainB', (210, 190, 140))]:
        (data / folder).mkdir(parents=True)
        for i in range(2):
            img = Image.new('RGB', (SIZE, SIZE), colour)
            img.paste((250, 250, 250), (8 + 10 * i, 8, 30 + 10 * i, 30))
            img.save(data / folder / f'{i}.png')
    return data


def options(root, tmp_path, *extra):
    return ['--dataroot', str(root), '--model', 'fork_gan', '--checkpoints_dir', str(tmp_path / 'ck'),
            '--name', 'fork', '--ngf', '8', '--ndf', '8', '--n_blocks_enc', '1', '--n_blocks_dec', '1',
            '--gpu_ids', '-1', '--amp', 'off', '--num_threads', '0',
            '--load_size', str(SIZE), '--crop_size', str(SIZE), *extra]


def build(root, tmp_path, *extra, batch=2, seed=0):
    torch.manual_seed(seed)
    opt = TrainOptions().parse(options(root, tmp_path, *extra), save=False)
    model = models.create_model(opt)
    model.setup(opt)
    model.set_input({'A': torch.rand(batch, 3, SIZE, SIZE) * 2 - 1, 'B': torch.rand(batch, 3, SIZE, SIZE) * 2 - 1,
                     'A_paths': ['a'] * batch})
    return model


def discriminators(model):
    return {n: getattr(model, 'net' + n) for n in DISCRIMINATORS}


# slot -> the output it judges
JUDGED = {'G_A': ('D_B', 'fake_B'), 'G_B': ('D_A', 'fake_A'), 'G_rec_A': ('D_rec_A', 'rec_A'),
          'G_rec_B': ('D_rec_B', 'rec_B'), 'G_ref_A': ('D_ref_A', 'ref_A'), 'G_ref_B': ('D_ref_B', 'ref_B')}


# ----- 1. adversarial weights -----

@pytest.mark.parametrize('extra, weight', [((), 1.0), (('--lambda_gan', '0.5'), 0.5), (('--lambda_gan', '3'), 3.0)])
def test_each_adversarial_term_is_lambda_gan_times_its_gan_loss(root, tmp_path, extra, weight):
    model = build(root, tmp_path, *extra)
    assert model.opt.lambda_gan == weight  # default 1: the official 0.5 per discriminator x 2
    D = discriminators(model)
    with torch.no_grad():
        model.forward()
        terms = model.generator_loss(D, model.netC)
        for loss, (slot, output) in JUDGED.items():
            expected = weight * model.criterionGAN(D[slot](getattr(model, output)), True)
            assert torch.allclose(terms[loss], expected, rtol=1e-6), loss


def test_netD_augan_gives_the_official_adversarial_term_exactly(root, tmp_path):
    """model.py: g_adv_total = sum over the n_d = 2 discriminators of 0.5 * (each output's LSGAN loss
    averaged over the discriminator's 2 scales), per slot; each discriminator ndf / n_d wide."""
    model = build(root, tmp_path, '--netD', 'augan')
    D = discriminators(model)
    for net in D.values():
        assert len(net.discriminators) == 2
        assert net.discriminators[0].one_step[0][0].out_channels == model.opt.ndf // 2
    with torch.no_grad():
        model.forward()
        terms = model.generator_loss(D, model.netC)
        for loss, (slot, output) in JUDGED.items():
            official = 0.0
            for d in D[slot].discriminators:
                maps = d(getattr(model, output))
                assert len(maps) == 2
                official += 0.5 * sum(F.mse_loss(m, torch.ones_like(m)) for m in maps) / len(maps)
            assert torch.allclose(terms[loss], official, rtol=1e-5), loss


# ----- 3. the encodings the perceptual and classifier losses read -----

def losses_inputs(model, monkeypatch):
    """Run the generator and classifier losses; return what channel_mean_l1 and C were given."""
    percep, classifier = [], []
    real_l1 = fork_gan_model.channel_mean_l1

    def recording_l1(a, b):
        percep.extend([a, b])
        return real_l1(a, b)

    monkeypatch.setattr(fork_gan_model, 'channel_mean_l1', recording_l1)
    handle = model.netC.register_forward_pre_hook(lambda module, args: classifier.append(args[0]))
    try:
        with torch.no_grad():
            model.forward()
            model.generator_loss(discriminators(model), model.netC)
            model.classifier_loss()
    finally:
        handle.remove()
    return percep, classifier


def clean_encodings(model):
    """The encoder outputs of the four encoded images, in channel_mean_l1's order:
    x_A, fake_B (by G_B), x_B, fake_A (by G_A)."""
    with torch.no_grad():
        return [model.netG_A(model.real_A).enc, model.netG_B(model.fake_B).enc,
                model.netG_B(model.real_B).enc, model.netG_A(model.fake_A).enc]


def test_perceptual_and_classifier_losses_read_the_noisy_encodings_while_training(root, tmp_path, monkeypatch):
    model = build(root, tmp_path)
    percep, classifier = losses_inputs(model, monkeypatch)
    clean = clean_encodings(model)
    assert len(percep) == 4
    for seen, enc in zip(percep, clean):
        noise = seen - enc
        assert not torch.equal(seen, enc)
        assert abs(noise.mean().item()) < 0.002 and 0.018 < noise.std().item() < 0.022  # --noise_std 0.02
    # one noisy tensor per encoding, shared by both losses (as r5 is in the official graph):
    # generator loss C(enc(fake_A)), C(enc(fake_B)); classifier loss x_A, x_B, fake_B, fake_A
    enc_A, enc_fake_B, enc_B, enc_fake_A = percep
    for seen, expected in zip(classifier, [enc_fake_A, enc_fake_B, enc_A, enc_B, enc_fake_B, enc_fake_A]):
        assert torch.equal(seen, expected)


@pytest.mark.parametrize('extra, mode', [(('--noise_std', '0'), 'train'), (('--noise_on', 'translation'), 'train'),
                                         ((), 'eval')])
def test_encodings_are_clean_without_reconstruction_noise(root, tmp_path, monkeypatch, extra, mode):
    # no noise, noise on the translation decoder (the earlier port: clean encodings), or testing
    model = build(root, tmp_path, *extra)
    if mode == 'eval':
        model.eval()
    percep, classifier = losses_inputs(model, monkeypatch)
    for seen, enc in zip(percep, clean_encodings(model)):
        assert torch.equal(seen, enc)


# ----- 2. the shared pool of (A, B) pairs -----

def test_one_shared_pool_by_default_and_one_per_discriminator_on_request(root, tmp_path):
    pools = build(root, tmp_path).image_pools()
    assert list(pools) == ['shared_pool'] and isinstance(pools['shared_pool'], PairPool)
    pools = build(root, tmp_path, '--pool_mode', 'per_output').image_pools()
    assert sorted(pools) == sorted(n.replace('D_', 'pool_') for n in DISCRIMINATORS)
    assert not any(isinstance(p, PairPool) for p in pools.values())


def test_the_step_fills_the_shared_pool_with_translations_then_reconstructions_then_refinements(root, tmp_path,
                                                                                                   monkeypatch):
    model = build(root, tmp_path, '--pool_size', '3', batch=1)
    shown = {}
    real_loss = type(model).discriminator_loss

    def recording_loss(self, netD, real, fake):
        name = next(n for n in DISCRIMINATORS if getattr(self, 'net' + n) is netD)
        shown[name] = fake
        return real_loss(self, netD, real, fake)

    monkeypatch.setattr(type(model), 'discriminator_loss', recording_loss)
    losses = model.optimize_parameters()
    pairs = model.shared_pool.images
    assert len(pairs) == 3
    for (a, b), kind in zip(pairs, ['fake', 'rec', 'ref']):
        assert torch.equal(a, getattr(model, kind + '_A').detach())
        assert torch.equal(b, getattr(model, kind + '_B').detach())
    # while the pool fills, every slot is shown its own new output
    for slot, output in JUDGED.values():
        assert torch.equal(shown[slot], getattr(model, output).detach())
    assert all(math.isfinite(v) for v in as_floats(losses).values())


def official_pool(maxsize, generator):
    """utils.py ImagePool of the official code, its numpy draws taken from `generator` in the
    same order as PairPool takes them (rand for the swap, then the A slot, then the B slot)."""
    images = []

    def query(pair):
        if len(images) < maxsize:
            images.append(list(pair))
            return pair
        if torch.rand((), generator=generator).item() > 0.5:
            idx = int(torch.randint(0, maxsize, (), generator=generator).item())
            tmp1, images[idx][0] = images[idx][0], pair[0]
            idx = int(torch.randint(0, maxsize, (), generator=generator).item())
            tmp2, images[idx][1] = images[idx][1], pair[1]
            return [tmp1, tmp2]
        return pair

    return query


def test_pair_pool_draws_as_the_official_pool():
    pool = PairPool(5, seed=123)
    reference = official_pool(5, torch.Generator().manual_seed(123))
    mixed = crossed = 0
    for step in range(200):
        kind = step % 3  # translations, reconstructions, refinements, as the step queries them
        a, b = torch.full((1, 3, 4, 4), float(step)), torch.full((1, 3, 4, 4), 1000.0 + step)
        out_a, out_b = pool.query_pair(a, b)
        ref_a, ref_b = reference([step, 1000 + step])
        assert out_a.flatten()[0].item() == ref_a and out_b.flatten()[0].item() == ref_b
        assert out_a.shape == a.shape and ref_b >= 1000 > ref_a  # sides never mix
        mixed += ref_a % 3 != kind  # a past output of another kind
        crossed += ref_b - 1000 != ref_a  # A and B from different entries
    assert mixed and crossed


def test_pair_pool_treats_each_sample_of_a_batch_as_one_query_and_resumes_exactly():
    pool = PairPool(4, seed=7)
    a, b = torch.arange(4.0).view(4, 1, 1, 1), 10 + torch.arange(4.0).view(4, 1, 1, 1)
    out_a, out_b = pool.query_pair(a, b)
    assert torch.equal(out_a, a) and torch.equal(out_b, b) and len(pool) == 4
    assert [float(x) for x, _ in pool.images] == [0, 1, 2, 3]
    with pytest.raises(TypeError):
        pool.query(a)

    copy = PairPool(4, seed=99)
    copy.load_state_dict(pool.state_dict())
    for step in range(20):
        new_a, new_b = a + 100 * (step + 1), b + 100 * (step + 1)
        for x, y in zip(pool.query_pair(new_a, new_b), copy.query_pair(new_a, new_b)):
            assert torch.equal(x, y)
    # a per-output pool's state leaves a PairPool empty
    empty = PairPool(4)
    empty.load_state_dict(ImagePool(4).state_dict())
    assert len(empty) == 0 and empty.images == []
    assert PairPool(0).query_pair(a, b) == (a, b)


@pytest.mark.slow
@pytest.mark.parametrize('extra', [(), ('--pool_mode', 'per_output'), ('--netD', 'augan')])
def test_fork_gan_trains_and_resumes_exactly_with_its_pools(root, tmp_path, extra):
    def run(name, *more):
        train.main(options(root, tmp_path, *extra) + ['--name', name, '--pool_size', '2', '--n_epochs', '1',
                                                      '--n_epochs_decay', '1', '--print_freq', '1',
                                                      '--seed', '3', *more])

    run('straight', '--max_iters', '4')
    run('split', '--max_iters', '2')
    run('split', '--max_iters', '4', '--continue_train')
    for net in ['G_A', 'G_B', 'C'] + DISCRIMINATORS:
        a = load_network(tmp_path / 'ck' / 'straight' / f'latest_net_{net}.pth')[0]
        b = load_network(tmp_path / 'ck' / 'split' / f'latest_net_{net}.pth')[0]
        assert all(torch.equal(a[k], b[k]) for k in a), net
    pools = load_training_state(tmp_path / 'ck' / 'split' / 'latest_state.pth')['pools']
    assert sorted(pools) == (['shared_pool'] if not extra or extra[0] != '--pool_mode'
                             else sorted(n.replace('D_', 'pool_') for n in DISCRIMINATORS))
    rows = read_losses(tmp_path / 'ck' / 'straight' / 'loss_log.txt')
    assert rows and all(math.isfinite(v) for row in rows for v in row.values())
