"""official/tf_checkpoint.py: reading TensorFlow V2 checkpoints without TensorFlow.

The fixture in tests/fixtures/tf_checkpoint/ was written by TensorFlow itself (see make_fixture.py
there), together with what TensorFlow's own reader returns for it; these tests need no TensorFlow.
"""
import json
import os
import shutil
import struct

import numpy as np
import pytest

from official import tf_checkpoint as tfc
from official.tf_checkpoint import crc32c, list_variables, masked_crc32c, read_checkpoint, resolve_checkpoint
from util.errors import UserError

FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fixtures', 'tf_checkpoint')
PREFIX = os.path.join(FIXTURE, 'cyclegan.model-1002')
SHARDS = [PREFIX + '.data-00000-of-00002', PREFIX + '.data-00001-of-00002']
SLICED = os.path.join(FIXTURE, 'sliced')


@pytest.fixture(scope='module')
def expected():
    with np.load(os.path.join(FIXTURE, 'expected.npz')) as z:
        return {k: z[k] for k in z.files}


@pytest.fixture
def copy(tmp_path):
    """A private copy of the fixture checkpoint (index, shards, state file); returns its prefix."""
    for name in os.listdir(FIXTURE):
        if name.startswith('cyclegan.model-1002') or name == 'checkpoint':
            shutil.copy(os.path.join(FIXTURE, name), tmp_path / name)
    return str(tmp_path / 'cyclegan.model-1002')


def user_error(func, *args, **kwargs):
    with pytest.raises(UserError) as info:
        func(*args, **kwargs)
    message = str(info.value)
    assert '\n' not in message and message.strip() == message, message
    return message


# ---------------------------------------------------------------------------------------------
# CRC32C
# ---------------------------------------------------------------------------------------------

def bitwise_crc32c(data):
    """Textbook bit-at-a-time CRC-32C, independent of the module's tables."""
    reg = 0xFFFFFFFF
    for byte in data:
        reg ^= byte
        for _ in range(8):
            reg = (reg >> 1) ^ (0x82F63B78 if reg & 1 else 0)
    return reg ^ 0xFFFFFFFF


def test_crc32c_known_vectors():
    # RFC 3720 (iSCSI), appendix B.4, and the classic check value.
    assert crc32c(b'123456789') == 0xE3069283
    assert crc32c(bytes(32)) == 0x8A9136AA
    assert crc32c(b'\xff' * 32) == 0x62A8AB43
    assert crc32c(bytes(range(32))) == 0x46DD794E
    assert crc32c(bytes(range(31, -1, -1))) == 0x113FDB5C
    assert crc32c(b'') == 0
    # LevelDB's masking of a CRC of 0.
    assert masked_crc32c(b'') == 0xA282EAD8


@pytest.mark.parametrize('size', [1, 3, 4, 5, 1000, 1023, 1024, 1025, 4096, 4100, 70001])
def test_crc32c_matches_bitwise_reference(size, monkeypatch):
    data = np.random.default_rng(size).integers(0, 256, size, dtype=np.uint8).tobytes()
    want = bitwise_crc32c(data)
    assert crc32c(data) == want
    assert crc32c(np.frombuffer(data, np.uint8)) == want
    assert crc32c(data[size // 3:], crc32c(data[:size // 3])) == want
    # Force several vectorised segments in a row (normally 8 MiB each).
    monkeypatch.setattr(tfc, '_SEGMENT', 2048)
    assert crc32c(data) == want


def test_crc32c_large_input_chunks_merge():
    data = np.random.default_rng(7).integers(0, 256, (1 << 20) + 77, dtype=np.uint8)
    reg = crc32c(data[:1000].tobytes())            # bytewise path, then extended vectorised
    reg = crc32c(data[1000:300000], reg)
    reg = crc32c(data[300000:], reg)
    assert crc32c(data) == reg
    assert crc32c(data[:5000].tobytes()) == bitwise_crc32c(data[:5000].tobytes())


# ---------------------------------------------------------------------------------------------
# Reading TensorFlow's fixture
# ---------------------------------------------------------------------------------------------

def tf_listing(expected):
    names = [n.decode() for n in expected['list_names']]
    return {n: (d, tuple(json.loads(s))) for n, d, s in zip(names, expected['list_dtypes'], expected['list_shapes'])}


def test_fixture_exercises_several_index_blocks_and_shards():
    # Not a test of the reader: guards that the fixture still covers what it was made for.
    data = open(PREFIX + '.index', 'rb').read()
    footer = data[-48:]
    pos = 0
    handle = []
    for _ in range(4):
        value, pos = tfc._varint(footer, pos)
        handle.append(value)
    index = tfc._read_block(data, handle[2:])
    blocks = [tfc._read_block(data, (tfc._varint(v, 0)[0], tfc._varint(v, tfc._varint(v, 0)[1])[0]))
              for _, v in tfc._block_entries(index)]
    assert len(blocks) >= 2
    assert max(int.from_bytes(b[-4:], 'little') for b in blocks) > 1     # several restart points
    assert all(os.path.isfile(s) for s in SHARDS)


def test_every_variable_equals_tensorflows_reading(expected):
    got = read_checkpoint(PREFIX)
    listing = tf_listing(expected)
    strings = {n for n, (d, _) in listing.items() if d == 'string'}
    assert strings == {'meta/run_name'}
    assert set(got) == set(listing) - strings
    fillers = sorted(n for n in listing if n.startswith('filler/'))
    assert len(fillers) == expected['filler_values'].size > 100
    for name, value in zip(fillers, expected['filler_values']):
        assert got[name].dtype == np.float32 and got[name].shape == ()
        assert got[name].tobytes() == value.tobytes(), name
    checked = 0
    for name in set(got) - set(fillers):
        want = expected[name]
        assert got[name].dtype == want.dtype, name
        assert got[name].shape == want.shape, name
        assert got[name].tobytes() == want.tobytes(), name   # bit-exact, NaN and -0.0 included
        checked += 1
    assert checked == 20
    # A few spot checks that do not go through the .npz at all.
    assert got['global_step'] == 1002 and got['global_step'].dtype == np.int64
    assert got['int64/values'][3] == -2 ** 63
    assert got['bf16/weights'].dtype == np.float32 and got['half/weights'].dtype == np.float16
    assert got['bool/mask'].dtype == np.bool_ and got['empty/weights'].shape == (0, 3)
    assert np.isnan(got['special/float32_values'][0]) and np.signbit(got['special/float32_values'][3])
    assert got['generatorA2B/g_e1_c/Conv/weights'].shape == (3, 3, 3, 8)
    assert got['generatorA2B/g_e1_c/Conv/weights'].flags.writeable


def test_list_variables_agrees_with_tensorflow(expected):
    want = {n: ({'bfloat16': 'float32', 'string': 'object'}.get(d, d), s) for n, (d, s) in tf_listing(expected).items()}
    got = list_variables(PREFIX)
    assert got == want
    assert got['generatorA2B/g_e1_c/Conv/weights'] == ('float32', (3, 3, 3, 8))
    assert got['global_step'] == ('int64', ())


def test_read_chosen_variables(expected):
    got = read_checkpoint(PREFIX, names=['global_step', 'bf16/weights'], verify=False)
    assert list(got) == ['global_step', 'bf16/weights']
    assert got['bf16/weights'].tobytes() == expected['bf16/weights'].tobytes()
    message = user_error(read_checkpoint, PREFIX, names=['generatorA2B/g_e1_c/Conv/weight'])
    assert "'generatorA2B/g_e1_c/Conv/weight'" in message and 'generatorA2B/g_e1_c/Conv/weights' in message


def test_string_variable_is_refused_by_name():
    message = user_error(read_checkpoint, PREFIX, names=['meta/run_name'])
    assert "'meta/run_name'" in message and 'string' in message


def test_sliced_variable_is_refused_naming_it():
    with open(os.path.join(SLICED, 'expected.json')) as f:
        want = json.load(f)
    prefix = resolve_checkpoint(SLICED)           # no state file: the folder's only *.index
    assert prefix == os.path.join(SLICED, want['prefix'])
    assert list_variables(prefix) == {n: (d, tuple(s)) for n, (d, s) in want['variables'].items()}
    message = user_error(read_checkpoint, prefix)
    assert "'generatorA2B/partitioned/weights'" in message and 'partitioned variable' in message
    assert read_checkpoint(prefix, names=['plain/biases'])['plain/biases'].tolist() == want['plain/biases']


# ---------------------------------------------------------------------------------------------
# resolve_checkpoint
# ---------------------------------------------------------------------------------------------

def test_resolve_from_folder_prefix_and_files():
    # The state file names C:\Users\x\AU-GAN\checkpoint\cyclegan.model-1002 (escaped).
    assert 'C:\\\\Users' in open(os.path.join(FIXTURE, 'checkpoint')).read()
    assert resolve_checkpoint(FIXTURE) == PREFIX
    assert resolve_checkpoint(FIXTURE + os.sep) == os.path.join(FIXTURE, 'cyclegan.model-1002')
    assert resolve_checkpoint(os.path.join(FIXTURE, 'checkpoint')) == PREFIX
    assert resolve_checkpoint(PREFIX) == PREFIX
    assert resolve_checkpoint(PREFIX + '.index') == PREFIX
    assert resolve_checkpoint(SHARDS[1]) == PREFIX
    from pathlib import Path
    assert resolve_checkpoint(Path(PREFIX + '.index')) == PREFIX


@pytest.mark.parametrize('named', ['C:/Users/x/ckpt/cyclegan.model-1002',
                                   '/home/x/AU-GAN/checkpoint/cyclegan.model-1002', 'cyclegan.model-1002',
                                   'C:\\\\Users\\\\x\\\\cyclegan.model-1002',
                                   'C:\\Users\\x\\ckpt\\cyclegan.model-1002', 'sub/dir\\\\cyclegan.model-1002'])
def test_resolve_uses_only_the_basename_of_the_state_file_path(copy, named):
    folder = os.path.dirname(copy)
    with open(os.path.join(folder, 'checkpoint'), 'w') as f:
        f.write(f'model_checkpoint_path: "{named}"\nall_model_checkpoint_paths: "{named}"\n')
    open(os.path.join(folder, 'other.model-5.index'), 'wb').close()   # must not be picked instead
    assert resolve_checkpoint(folder) == copy


def test_resolve_errors(copy, tmp_path):
    folder = os.path.dirname(copy)
    with open(os.path.join(folder, 'checkpoint'), 'w') as f:
        f.write('model_checkpoint_path: "/elsewhere/cyclegan.model-2000"\n')
    message = user_error(resolve_checkpoint, folder)
    assert os.path.join(folder, 'checkpoint') in message and 'cyclegan.model-2000' in message

    os.remove(os.path.join(folder, 'checkpoint'))
    assert resolve_checkpoint(folder) == copy          # the only *.index
    shutil.copy(copy + '.index', os.path.join(folder, 'cyclegan.model-1.index'))
    message = user_error(resolve_checkpoint, folder)
    assert folder in message and '2 checkpoints' in message

    empty = tmp_path / 'empty'
    empty.mkdir()
    assert str(empty) in user_error(resolve_checkpoint, empty)
    missing = os.path.join(folder, 'cyclegan.model-999')
    assert missing in user_error(resolve_checkpoint, missing)
    assert missing in user_error(resolve_checkpoint, missing + '.index')


# ---------------------------------------------------------------------------------------------
# Damaged checkpoints
# ---------------------------------------------------------------------------------------------

def test_truncated_data_file(copy):
    shard = copy + '.data-00000-of-00002'
    size = os.path.getsize(shard)
    with open(shard, 'r+b') as f:
        f.truncate(size // 2)
    assert len(list_variables(copy)) > 100           # the index alone is still fine
    message = user_error(read_checkpoint, copy)
    assert shard in message and 'truncated' in message and f'{size // 2} bytes' in message


def test_flipped_byte_fails_the_checksum_naming_the_variable(copy, expected):
    name = 'special/float32_values'
    needle = expected[name].tobytes()
    for shard in SHARDS:
        blob = open(shard, 'rb').read()
        if blob.count(needle) == 1:
            break
    else:
        pytest.fail(f'{name} not found in the shards')
    path = copy + shard[len(PREFIX):]
    pos = blob.index(needle) + 17
    with open(path, 'r+b') as f:
        f.seek(pos)
        f.write(bytes([blob[pos] ^ 0x01]))
    message = user_error(read_checkpoint, copy)
    assert f"'{name}'" in message and path in message and 'checksum' in message
    assert user_error(read_checkpoint, copy, names=[name]) == message
    # Other variables still read; without verification the damaged bytes come through.
    assert read_checkpoint(copy, names=['global_step'])['global_step'] == 1002
    damaged = read_checkpoint(copy, names=[name], verify=False)[name]
    assert damaged.tobytes() != needle and damaged.shape == expected[name].shape


def test_missing_data_shard(copy):
    shard = copy + '.data-00001-of-00002'
    os.remove(shard)
    message = user_error(read_checkpoint, copy)
    assert shard in message and 'missing' in message


def test_missing_index(copy):
    os.remove(copy + '.index')
    assert copy + '.index' in user_error(read_checkpoint, copy)
    assert copy + '.index' in user_error(list_variables, copy)


@pytest.mark.parametrize('damage', ['block_byte', 'magic', 'short', 'not_a_table'])
def test_corrupt_index(copy, damage):
    index = copy + '.index'
    data = bytearray(open(index, 'rb').read())
    if damage == 'block_byte':
        data[5000] ^= 0x20               # inside the first data block: its CRC no longer matches
    elif damage == 'magic':
        data[-1] ^= 0xFF
    elif damage == 'short':
        data = data[:30]
    else:
        data = bytearray(b'model_checkpoint_path: "x"\n' * 10)
    with open(index, 'wb') as f:
        f.write(data)
    for func in (list_variables, read_checkpoint):
        message = user_error(func, copy)
        assert index in message and 'checkpoint index' in message
    if damage == 'block_byte':
        assert 'checksum' in message
    if damage == 'magic':
        assert 'magic' in message


# ---------------------------------------------------------------------------------------------
# Features TensorFlow 2.21 does not write: a hand-built table
# ---------------------------------------------------------------------------------------------

def _varint_bytes(value):
    out = bytearray()
    while True:
        out.append((value & 0x7F) | (0x80 if value > 0x7F else 0))
        value >>= 7
        if not value:
            return bytes(out)


def _field(number, wire, payload):
    key = _varint_bytes(number << 3 | wire)
    if wire == 0:
        return key + _varint_bytes(payload)
    if wire == 2:
        return key + _varint_bytes(len(payload)) + payload
    return key + payload


def _entry(dtype, shape, offset, size, crc):
    dims = b''.join(_field(2, 2, _field(1, 0, d)) for d in shape)
    return (_field(1, 0, dtype) + _field(2, 2, dims) + _field(4, 0, offset) + _field(5, 0, size)
            + _field(6, 5, struct.pack('<I', crc)))


def _write_table(path, items, snappy=False):
    """A minimal LevelDB table: one data block (every key a restart), an index block, a footer."""
    def block(pairs):
        body = b''.join(_varint_bytes(0) + _varint_bytes(len(k)) + _varint_bytes(len(v)) + k + v for k, v in pairs)
        starts, pos = [], 0
        for k, v in pairs:
            starts.append(pos)
            pos += len(_varint_bytes(0) + _varint_bytes(len(k)) + _varint_bytes(len(v))) + len(k) + len(v)
        return body + b''.join(struct.pack('<I', s) for s in starts) + struct.pack('<I', len(starts))

    def stored(contents, kind):
        return contents + bytes([kind]) + struct.pack('<I', masked_crc32c(contents + bytes([kind])))

    data_block = block(items)
    if snappy:   # one Snappy literal holding the whole block
        n = len(data_block) - 1
        data_block = _varint_bytes(len(data_block)) + bytes([61 << 2]) + struct.pack('<H', n) + data_block
    out = stored(data_block, 1 if snappy else 0)
    handle = _varint_bytes(0) + _varint_bytes(len(data_block))
    meta_at = len(out)
    out += stored(struct.pack('<II', 0, 1), 0)     # empty metaindex block: one restart at 0
    index_at = len(out)
    index_block = block([(items[-1][0] + b'\xff', handle)])
    out += stored(index_block, 0)
    footer = (_varint_bytes(meta_at) + _varint_bytes(8) + _varint_bytes(index_at) + _varint_bytes(len(index_block)))
    out += footer + bytes(40 - len(footer)) + struct.pack('<Q', 0xDB4775248B80FB57)
    with open(path, 'wb') as f:
        f.write(out)


def _header(big_endian=False, min_consumer=0):
    return _field(1, 0, 1) + _field(2, 0, int(big_endian)) + _field(3, 2, _field(1, 0, 1) + _field(2, 0, min_consumer))


def _make_bundle(folder, tensors, big_endian=False, snappy=False, min_consumer=0, dtype_codes=None):
    prefix = os.path.join(str(folder), 'hand.model-1')
    blob, items = b'', [(b'', _header(big_endian, min_consumer))]
    for name, value in sorted(tensors.items()):
        raw = value.astype(value.dtype.newbyteorder('>' if big_endian else '<')).tobytes()
        code = (dtype_codes or {}).get(name) or {np.float32: 1, np.int64: 9, np.int16: 5}[value.dtype.type]
        items.append((name.encode(), _entry(code, value.shape, len(blob), len(raw), masked_crc32c(raw))))
        blob += raw
    _write_table(prefix + '.index', items, snappy=snappy)
    with open(prefix + '.data-00000-of-00001', 'wb') as f:
        f.write(blob)
    return prefix


TENSORS = {'a/weights': np.arange(12, dtype=np.float32).reshape(3, 4) - 5.5,
           'b/step': np.array(123456789012, dtype=np.int64), 'c/short': np.array([-3, 7], np.int16)}


@pytest.mark.parametrize('snappy,big_endian', [(False, False), (True, False), (False, True)])
def test_hand_built_tables(tmp_path, snappy, big_endian):
    prefix = _make_bundle(tmp_path, TENSORS, big_endian=big_endian, snappy=snappy)
    got = read_checkpoint(prefix)
    assert list_variables(prefix) == {k: (v.dtype.name, v.shape) for k, v in TENSORS.items()}
    for name, value in TENSORS.items():
        assert got[name].dtype == value.dtype and np.array_equal(got[name], value), name


def test_unsupported_dtype_and_newer_format(tmp_path):
    prefix = _make_bundle(tmp_path, TENSORS, dtype_codes={'c/short': 11})     # 11 = qint8
    assert list_variables(prefix)['c/short'] == ('qint8', (2,))
    message = user_error(read_checkpoint, prefix)
    assert "'c/short'" in message and 'qint8' in message
    assert set(read_checkpoint(prefix, names=['a/weights', 'b/step'])) == {'a/weights', 'b/step'}
    newer = tmp_path / 'newer'
    newer.mkdir()
    message = user_error(read_checkpoint, _make_bundle(newer, TENSORS, min_consumer=5))
    assert 'newer TensorFlow' in message


def test_snappy_decoder_copies():
    # "abc", then a 1-byte-offset copy of 9 (overlapping), a 2-byte-offset copy of 3, then "X".
    stream = (bytes([16]) + bytes([2 << 2]) + b'abc' + bytes([(5 << 2) | 1, 3])
              + bytes([(2 << 2) | 2]) + struct.pack('<H', 12) + bytes([0]) + b'X')
    assert tfc._snappy_decompress(stream) == b'abcabcabcabcabcX'
    with pytest.raises(tfc._Corrupt):
        tfc._snappy_decompress(bytes([5, 1 | (3 << 2), 9]))          # copy from before the start
    with pytest.raises(tfc._Corrupt):
        tfc._snappy_decompress(bytes([4, 0]) + b'a')                  # declares 4 bytes, holds 1
