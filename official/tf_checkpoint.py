"""Read TensorFlow "V2" checkpoints (what `tf.compat.v1.train.Saver().save()` writes) with numpy alone.

The original AU-GAN releases its weights as such a checkpoint; this module lets the project read
them without installing TensorFlow. A checkpoint is a *prefix* such as `.../cyclegan.model-1002`,
naming a group of files:

* `PREFIX.index` - a sorted key/value table in LevelDB's "SSTable" layout. The file ends with a
  48-byte footer: two block handles (each a varint offset and a varint size) for the metaindex
  and the index block, zero padding, and the 8-byte magic number 0xdb4775248b80fb57. Every block
  is followed by a 5-byte trailer: a compression byte (0 = stored, 1 = Snappy) and the masked
  CRC32C of the block plus that byte. Inside a block, entries are `shared, non_shared,
  value_length` varints, the key bytes not shared with the previous key, then the value; a list
  of 32-bit "restart" offsets (entries whose key is stored whole) and their count close the
  block. The index block maps one key per data block to that block's handle; the metaindex is
  empty in checkpoints.
* In that table, the empty key holds a `BundleHeaderProto` (number of data shards, byte order,
  format version) and every other key is a tensor name holding a `BundleEntryProto` (dtype,
  shape, shard id, byte offset and size in the shard, masked CRC32C of those bytes, and the
  slices of a partitioned variable). Keys starting with a NUL byte name the pieces of
  partitioned variables. Both messages are tiny protobufs, decoded here by a small wire-format
  parser instead of generated code.
* `PREFIX.data-SSSSS-of-NNNNN` - the shards: raw tensor bytes, little-endian, one tensor after
  another at the offsets the index gives.
* Beside them, a text file named `checkpoint` records the newest prefix as
  `model_checkpoint_path: "..."`; TensorFlow usually writes it as an absolute path of the machine
  that saved it, so only its last component is trusted here.

"Masked" CRC32C is LevelDB's ((crc >> 15 | crc << 17) + 0xa282ead8) mod 2**32. CRC32C itself is
computed with numpy: the bytes are cut into many equal chunks whose CRCs advance in lock-step
(eight bytes per step through 16-bit lookup tables), and the chunk CRCs are then merged pairwise
with the GF(2) matrices that append a run of zero bytes. That checks ~80 MB in well under a
second on one core.

Public API: `resolve_checkpoint`, `list_variables`, `read_checkpoint` (and `crc32c`,
`masked_crc32c`). Every problem a user can fix raises `util.errors.UserError` with one line.
"""
import difflib
import glob
import os
import re

import numpy as np

from util.errors import UserError

__all__ = ['resolve_checkpoint', 'list_variables', 'read_checkpoint', 'crc32c', 'masked_crc32c']

# ----------------------------------------------------------------------------------------------
# CRC32C (Castagnoli), reflected, as in RFC 3720.
# ----------------------------------------------------------------------------------------------

_POLY = 0x82F63B78
_MASK_DELTA = 0xA282EAD8
_U32 = 0xFFFFFFFF


def _byte_table():
    table = []
    for i in range(256):
        reg = i
        for _ in range(8):
            reg = (reg >> 1) ^ _POLY if reg & 1 else reg >> 1
        table.append(reg)
    return table


_TABLE = _byte_table()
_TABLE_NP = np.array(_TABLE, dtype=np.uint32)
_SMALL = 1024            # below this many bytes a plain Python loop is quicker
_SEGMENT = 8 << 20       # bytes handled per vectorised pass (bounds the temporary copies)
_ZERO_OPS = {}           # n -> operator "append n zero bytes" (see _zeros_operator)
_STEP_TABLES = None


def _apply_columns(cols, values):
    """Multiply GF(2) 32x32 matrix (given by the images of the 32 unit vectors) by each value."""
    out = np.zeros(values.shape, dtype=np.uint32)
    for bit in range(32):
        out ^= np.where((values >> np.uint32(bit)) & np.uint32(1), cols[bit], np.uint32(0))
    return out


def _zeros_operator(n):
    """(columns, byte tables) of the linear map taking a CRC register to its value after n zero
    bytes. The byte tables let it be applied with four lookups."""
    op = _ZERO_OPS.get(n)
    if op is not None:
        return op
    unit = np.array([1 << bit for bit in range(32)], dtype=np.uint32)
    if n == 1:
        cols = _TABLE_NP[unit & np.uint32(0xFF)] ^ (unit >> np.uint32(8))
    elif n % 2 == 0:
        half = _zeros_operator(n // 2)[0]
        cols = _apply_columns(half, half)
    else:
        cols = _apply_columns(_zeros_operator(1)[0], _zeros_operator(n - 1)[0])
    byte_values = np.arange(256, dtype=np.uint32)
    tables = np.stack([_apply_columns(cols, byte_values << np.uint32(8 * k)) for k in range(4)])
    _ZERO_OPS[n] = op = (cols, tables)
    return op


def _apply_zeros(n, values):
    tables = _zeros_operator(n)[1]
    m = np.uint32(0xFF)
    return (tables[0][values & m] ^ tables[1][(values >> np.uint32(8)) & m]
            ^ tables[2][(values >> np.uint32(16)) & m] ^ tables[3][values >> np.uint32(24)])


def _step_tables():
    """16-bit tables for one 8-byte step: reg' = Z8(reg ^ w0) ^ Z4(w1) for little-endian words."""
    global _STEP_TABLES
    if _STEP_TABLES is None:
        low = np.arange(65536, dtype=np.uint32)
        high = low << np.uint32(16)
        z8, z4 = _zeros_operator(8)[0], _zeros_operator(4)[0]
        _STEP_TABLES = tuple(_apply_columns(cols, v) for cols in (z8, z4) for v in (low, high))
    return _STEP_TABLES


def _crc_small(data, reg):
    table = _TABLE
    for byte in data.tobytes():
        reg = table[(reg ^ byte) & 0xFF] ^ (reg >> 8)
    return reg


def _crc_segment(data, reg):
    """Advance register `reg` over uint8 array `data` (len >= _SMALL, <= _SEGMENT)."""
    n = data.size
    chunk = 64
    while chunk * 4096 < n:
        chunk *= 2
    count = 1
    while count * chunk < n:
        count *= 2
    # Zero bytes in front of a message leave a zero register at zero, so padding at the front
    # changes nothing; the starting register is folded into the first four real bytes instead.
    buf = np.zeros(count * chunk, dtype=np.uint8)
    start = buf.size - n
    buf[start:] = data
    buf[start:start + 4] ^= np.frombuffer(reg.to_bytes(4, 'little'), dtype=np.uint8)
    words = buf.view('<u4').reshape(count, chunk // 4)
    a8, b8, a4, b4 = _step_tables()
    low, shift = np.uint32(0xFFFF), np.uint32(16)
    regs = np.zeros(count, dtype=np.uint32)
    for i in range(0, chunk // 4, 2):
        regs ^= words[:, i]
        w1 = words[:, i + 1]
        regs = a8[regs & low] ^ b8[regs >> shift] ^ a4[w1 & low] ^ b4[w1 >> shift]
    span = chunk
    while regs.size > 1:
        regs = _apply_zeros(span, regs[0::2]) ^ regs[1::2]
        span *= 2
    return int(regs[0])


def _crc_register(data, reg):
    data = _as_bytes_array(data)
    for begin in range(0, data.size, _SEGMENT):
        piece = data[begin:begin + _SEGMENT]
        reg = _crc_small(piece, reg) if piece.size < _SMALL else _crc_segment(piece, reg)
    return reg


def _as_bytes_array(data):
    if isinstance(data, np.ndarray):
        return np.ascontiguousarray(data).reshape(-1).view(np.uint8)
    return np.frombuffer(memoryview(data).cast('B'), dtype=np.uint8)


def crc32c(data, crc=0):
    """CRC-32C of `data` (bytes-like or numpy array); pass a previous result as `crc` to extend it."""
    return _crc_register(data, crc ^ _U32) ^ _U32


def _mask(crc):
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & _U32


def masked_crc32c(data):
    """The "masked" CRC-32C that LevelDB tables and TensorFlow checkpoints store."""
    return _mask(crc32c(data))


# ----------------------------------------------------------------------------------------------
# Protobuf wire format (only what the two bundle messages need).
# ----------------------------------------------------------------------------------------------

class _Corrupt(Exception):
    """Internal: malformed bytes; turned into a UserError naming the file."""


def _varint(buf, pos, end=None):
    end = len(buf) if end is None else end
    value = shift = 0
    while True:
        if pos >= end or shift > 63:
            raise _Corrupt('bad varint')
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _fields(buf):
    """{field number: [values]} of a serialized message; varints as int, others as bytes."""
    out = {}
    pos, end = 0, len(buf)
    while pos < end:
        tag, pos = _varint(buf, pos)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = bytes(buf[pos:pos + 8]), pos + 8
        elif wire == 2:
            size, pos = _varint(buf, pos)
            value, pos = bytes(buf[pos:pos + size]), pos + size
        elif wire == 5:
            value, pos = bytes(buf[pos:pos + 4]), pos + 4
        else:
            raise _Corrupt(f'unsupported protobuf wire type {wire}')
        if pos > end or number == 0:
            raise _Corrupt('truncated protobuf message')
        out.setdefault(number, []).append(value)
    return out


def _int(fields, number, default=0, signed=True):
    value = fields.get(number, [default])[-1]
    if not isinstance(value, int):
        raise _Corrupt(f'field {number} is not a varint')
    if signed and value >= 1 << 63:
        value -= 1 << 64
    return value


# ----------------------------------------------------------------------------------------------
# SSTable (LevelDB table) reading.
# ----------------------------------------------------------------------------------------------

_TABLE_MAGIC = 0xDB4775248B80FB57
_FOOTER_SIZE = 48
_TRAILER_SIZE = 5


def _snappy_decompress(data):
    """Decode one raw Snappy block (the only compression LevelDB tables may use)."""
    size, pos = _varint(data, 0)
    out = bytearray()
    end = len(data)
    while pos < end:
        tag = data[pos]
        pos += 1
        kind = tag & 3
        if kind == 0:                                   # literal
            length = tag >> 2
            if length >= 60:
                nbytes = length - 59
                if pos + nbytes > end:
                    raise _Corrupt('truncated Snappy literal')
                length = int.from_bytes(data[pos:pos + nbytes], 'little')
                pos += nbytes
            length += 1
            if pos + length > end:
                raise _Corrupt('truncated Snappy literal')
            out += data[pos:pos + length]
            pos += length
            continue
        if kind == 1:
            if pos + 1 > end:
                raise _Corrupt('truncated Snappy copy')
            length = 4 + ((tag >> 2) & 7)
            offset = ((tag >> 5) << 8) | data[pos]
            pos += 1
        else:
            nbytes = 2 if kind == 2 else 4
            if pos + nbytes > end:
                raise _Corrupt('truncated Snappy copy')
            length = (tag >> 2) + 1
            offset = int.from_bytes(data[pos:pos + nbytes], 'little')
            pos += nbytes
        if offset == 0 or offset > len(out):
            raise _Corrupt('bad Snappy copy offset')
        start = len(out) - offset
        if offset >= length:
            out += out[start:start + length]
        else:                                           # overlapping copy repeats the pattern
            pattern = bytes(out[start:])
            out += (pattern * (length // offset + 1))[:length]
    if len(out) != size:
        raise _Corrupt('Snappy block has the wrong length')
    return bytes(out)


def _read_block(data, handle):
    offset, size = handle
    if offset + size + _TRAILER_SIZE > len(data) - _FOOTER_SIZE:
        raise _Corrupt(f'block at byte {offset} runs past the end of the file')
    contents = data[offset:offset + size]
    kind = data[offset + size]
    stored = int.from_bytes(data[offset + size + 1:offset + size + _TRAILER_SIZE], 'little')
    if masked_crc32c(data[offset:offset + size + 1]) != stored:
        raise _Corrupt(f'block checksum mismatch at byte {offset}')
    if kind == 0:
        return contents
    if kind == 1:
        return _snappy_decompress(contents)
    raise _Corrupt(f'unknown block compression type {kind}')


def _block_entries(block):
    """Yield (key, value) of one block, undoing the key prefix compression."""
    if len(block) < 4:
        raise _Corrupt('block too short')
    restarts = int.from_bytes(block[-4:], 'little')
    limit = len(block) - 4 - 4 * restarts
    if restarts == 0 or limit < 0:
        raise _Corrupt('bad restart array')
    starts = {int.from_bytes(block[limit + 4 * i:limit + 4 * i + 4], 'little') for i in range(restarts)}
    pos, key = 0, b''
    while pos < limit:
        entry = pos
        shared, pos = _varint(block, pos, limit)
        unshared, pos = _varint(block, pos, limit)
        length, pos = _varint(block, pos, limit)
        if shared > len(key) or pos + unshared + length > limit or (entry in starts and shared):
            raise _Corrupt('bad block entry')
        key = key[:shared] + block[pos:pos + unshared]
        pos += unshared
        yield key, block[pos:pos + length]
        pos += length


def _read_table(path):
    """All (key, value) pairs of an SSTable file, in order."""
    try:
        with open(path, 'rb') as f:
            data = f.read()
    except OSError as e:
        raise UserError(f'cannot read checkpoint index {path} ({e.strerror}); check the path and its permissions')

    def corrupt(detail):
        return UserError(f'{path} is not a readable TensorFlow checkpoint index ({detail}); '
                         f'copy or download the checkpoint again')

    if len(data) < _FOOTER_SIZE or int.from_bytes(data[-8:], 'little') != _TABLE_MAGIC:
        raise corrupt('bad magic number' if len(data) >= _FOOTER_SIZE else 'file too short')
    try:
        footer = data[-_FOOTER_SIZE:-8]
        pos = 0
        handles = []
        for _ in range(2):
            offset, pos = _varint(footer, pos)
            size, pos = _varint(footer, pos)
            handles.append((offset, size))
        index = _read_block(data, handles[1])
        pairs = []
        for _, value in _block_entries(index):
            offset, pos = _varint(value, 0)
            size, pos = _varint(value, pos)
            pairs.extend(_block_entries(_read_block(data, (offset, size))))
        return pairs
    except _Corrupt as e:
        raise corrupt(str(e)) from None


# ----------------------------------------------------------------------------------------------
# Tensor bundle entries.
# ----------------------------------------------------------------------------------------------

# TensorFlow DataType enum -> (numpy dtype, name reported to callers).
_DTYPES = {
    1: np.dtype('<f4'), 2: np.dtype('<f8'), 3: np.dtype('<i4'), 4: np.dtype('u1'), 5: np.dtype('<i2'),
    6: np.dtype('i1'), 8: np.dtype('<c8'), 9: np.dtype('<i8'), 10: np.dtype('?'), 14: np.dtype('<u2'),
    17: np.dtype('<u2'), 18: np.dtype('<c16'), 19: np.dtype('<f2'), 22: np.dtype('<u4'),
    23: np.dtype('<u8'),
}
_BFLOAT16 = 14
_STRING = 7
_TF_NAMES = {7: 'string', 11: 'qint8', 12: 'quint8', 13: 'qint32', 15: 'qint16', 16: 'quint16',
             20: 'resource', 21: 'variant'}


def _dtype_name(code):
    if code == _BFLOAT16:
        return 'float32'
    if code in _DTYPES:
        return _DTYPES[code].name
    if code == _STRING:
        return 'object'
    return _TF_NAMES.get(code, f'DataType {code}')


class _Entry:
    __slots__ = ('name', 'dtype', 'shape', 'shard', 'offset', 'size', 'crc', 'slices')


def _parse_entry(name, value):
    fields = _fields(value)
    entry = _Entry()
    entry.name = name
    entry.dtype = _int(fields, 1)
    dims = []
    for shape in fields.get(2, []):
        shape_fields = _fields(shape)
        if _int(shape_fields, 3):
            raise _Corrupt(f'variable {name!r} has an unknown rank')
        for dim in shape_fields.get(2, []):
            size = _int(_fields(dim), 1)
            if size < 0:
                raise _Corrupt(f'variable {name!r} has an unknown dimension')
            dims.append(size)
    entry.shape = tuple(dims)
    entry.shard = _int(fields, 3)
    entry.offset = _int(fields, 4)
    entry.size = _int(fields, 5)
    crc = fields.get(6, [b'\0\0\0\0'])[-1]
    if not isinstance(crc, bytes) or len(crc) != 4:
        raise _Corrupt(f'variable {name!r} has a malformed checksum field')
    entry.crc = int.from_bytes(crc, 'little')
    entry.slices = len(fields.get(7, []))
    if entry.offset < 0 or entry.size < 0 or entry.shard < 0:
        raise _Corrupt(f'variable {name!r} has a negative offset, size or shard')
    return entry


class _Bundle:
    def __init__(self, prefix):
        self.prefix = prefix
        self.index_path = prefix + '.index'
        if not os.path.isfile(self.index_path):
            raise UserError(f'checkpoint index {self.index_path} does not exist; pass an existing '
                            f'checkpoint prefix (the path without .index) or its folder')
        pairs = _read_table(self.index_path)
        try:
            if not pairs or pairs[0][0] != b'':
                raise _Corrupt('no bundle header')
            header = _fields(pairs[0][1])
            self.num_shards = _int(header, 1, default=1)
            self.big_endian = _int(header, 2) == 1
            version = _fields(header[3][-1]) if 3 in header else {}
            min_consumer = _int(version, 2)
            self.entries = {}
            for key, value in pairs[1:]:
                if key.startswith(b'\0'):    # a piece of a partitioned variable
                    continue
                name = key.decode('utf-8', 'replace')
                self.entries[name] = _parse_entry(name, value)
        except _Corrupt as e:
            raise UserError(f'{self.index_path} is not a readable TensorFlow checkpoint index ({e}); '
                            f'copy or download the checkpoint again') from None
        if min_consumer > 1:
            raise UserError(f'{self.index_path} was written by a newer TensorFlow (bundle format needs '
                            f'reader version {min_consumer}); re-save it with TensorFlow 1.x or 2.x '
                            f'tf.compat.v1.train.Saver')
        if self.num_shards < 1:
            raise UserError(f'{self.index_path} declares {self.num_shards} data shards; '
                            f'copy or download the checkpoint again')

    def shard_path(self, shard):
        return f'{self.prefix}.data-{shard:05d}-of-{self.num_shards:05d}'

    def check_supported(self, entry):
        if entry.slices:
            raise UserError(f'variable {entry.name!r} in {self.index_path} is a partitioned variable '
                            f'saved in {entry.slices} slices, which this reader does not support; '
                            f're-save it unpartitioned with TensorFlow, or leave it out of names=')
        if entry.dtype != _BFLOAT16 and entry.dtype not in _DTYPES:
            raise UserError(f'variable {entry.name!r} in {self.index_path} has TensorFlow dtype '
                            f'{_dtype_name(entry.dtype)}, which this reader does not support; '
                            f'leave it out of names= or convert it with TensorFlow')


def _open_shard(bundle, shard):
    path = bundle.shard_path(shard)
    if shard >= bundle.num_shards:
        raise UserError(f'{bundle.index_path} points to data shard {shard} but the checkpoint has only '
                        f'{bundle.num_shards}; copy or download the checkpoint again')
    try:
        return open(path, 'rb')
    except FileNotFoundError:
        raise UserError(f'checkpoint data file {path} is missing; copy every '
                        f'{os.path.basename(bundle.prefix)}.data-*-of-{bundle.num_shards:05d} file '
                        f'beside {bundle.index_path}') from None
    except OSError as e:
        raise UserError(f'cannot read checkpoint data file {path} ({e.strerror}); check its permissions') from None


def _decode(raw, entry, big_endian):
    if entry.dtype == _BFLOAT16:
        bits = raw.view('>u2' if big_endian else '<u2').astype(np.uint32) << np.uint32(16)
        return bits.view(np.float32).reshape(entry.shape)
    dtype = _DTYPES[entry.dtype]
    if big_endian and dtype.itemsize > 1:
        return raw.view(dtype.newbyteorder('>')).astype(dtype).reshape(entry.shape)
    return raw.view(dtype).reshape(entry.shape)


# ----------------------------------------------------------------------------------------------
# Public API.
# ----------------------------------------------------------------------------------------------

STATE_FILE = 'checkpoint'
_SUFFIX_RE = re.compile(r'(\.index|\.meta|\.data-\d{5}-of-\d{5})$')
_STATE_RE = re.compile(r'^\s*model_checkpoint_path\s*:\s*(["\'])((?:\\.|(?!\1).)*)\1', re.M)


_ESCAPES = {'n': '\n', 't': '\t', 'r': '\r', '"': '"', "'": "'", '\\': '\\'}
_ESCAPE_RE = re.compile(r'\\(x[0-9a-fA-F]{1,2}|[0-7]{1,3}|.)')


def _unescape(text):
    """Undo the C-style escapes of a text-format protobuf string (TensorFlow writes Windows paths
    with doubled backslashes). An unknown escape is kept as written, so a hand-written
    `C:\\Users\\x` path still ends in its last component."""
    def one(match):
        code = match.group(1)
        if code[0] == 'x' and len(code) > 1:
            return chr(int(code[1:], 16))
        if code[0] in '01234567':
            return chr(int(code, 8))
        return _ESCAPES.get(code, match.group(0))
    return _ESCAPE_RE.sub(one, text)


def state_checkpoint_path(state_path):
    """`model_checkpoint_path` as a `checkpoint` state file records it (perhaps another machine's
    path), or None."""
    try:
        with open(state_path, 'rb') as f:
            text = f.read().decode('utf-8', 'replace')
    except OSError as e:
        raise UserError(f'cannot read {state_path} ({e.strerror}); check its permissions') from None
    match = _STATE_RE.search(text)
    return _unescape(match.group(2)) if match else None


def path_parts(path):
    """The components of a path written on any machine (Windows or POSIX separators)."""
    return [part for part in re.split(r'[\\/]', path) if part]


def _state_checkpoint_name(state_path):
    """Last path component of `model_checkpoint_path` in a `checkpoint` state file, or None."""
    path = state_checkpoint_path(state_path)
    # Saved on another machine: keep only the name.
    return (path_parts(path) or [None])[-1] if path else None


def resolve_checkpoint(path):
    """The checkpoint prefix (a str whose `.index` exists) for a folder, a prefix, or a file of it.

    A folder is resolved through its `checkpoint` state file (only the last component of
    `model_checkpoint_path` is used, looked up beside the state file) or, without one, through its
    only `*.index` file. A path ending in `.index`, `.meta` or `.data-?????-of-?????` is cut back to
    its prefix.
    """
    given = os.fspath(path)
    path = os.path.expanduser(given)
    if os.path.basename(path) == STATE_FILE and os.path.isfile(path):
        path = os.path.dirname(path) or '.'
    if os.path.isdir(path):
        indexes = sorted(glob.glob(os.path.join(glob.escape(path), '*.index')))
        state = os.path.join(path, STATE_FILE)
        name = _state_checkpoint_name(state) if os.path.isfile(state) else None
        if name is not None:
            prefix = os.path.join(path, _SUFFIX_RE.sub('', name))
            if os.path.isfile(prefix + '.index'):
                return prefix
            hint = (f'; or pass {indexes[0][:-len(".index")]} (the only checkpoint there) instead'
                    if len(indexes) == 1 else '')
            raise UserError(f'{state} names checkpoint {name} but {prefix}.index does not exist; copy that '
                            f'checkpoint\'s .index and .data-* files into {path}{hint}')
        if len(indexes) == 1:
            return indexes[0][:-len('.index')]
        if not indexes:
            example = os.path.join(path, 'cyclegan.model-1002')
            raise UserError(f'no TensorFlow checkpoint in {path} (no "checkpoint" file and no *.index file); '
                            f'pass the folder holding them or a prefix such as {example}')
        raise UserError(f'{path} holds {len(indexes)} checkpoints and no "checkpoint" file to choose one; '
                        f'pass a prefix such as {indexes[-1][:-len(".index")]}')
    prefix = _SUFFIX_RE.sub('', path)
    if os.path.isfile(prefix + '.index'):
        return prefix
    raise UserError(f'no TensorFlow checkpoint at {given}: {prefix}.index does not exist; pass the folder '
                    f'holding the "checkpoint" file or a prefix such as .../cyclegan.model-1002')


def list_variables(prefix):
    """{name: (numpy dtype name, shape)} of every variable, reading only `PREFIX.index`.

    bfloat16 variables are reported as 'float32' (what `read_checkpoint` returns), string ones as
    'object'; other TensorFlow-only dtypes by their TensorFlow name. A partitioned variable is
    listed once with its full shape.
    """
    bundle = _Bundle(os.fspath(prefix))
    return {name: (_dtype_name(e.dtype), e.shape) for name, e in bundle.entries.items()}


def read_checkpoint(prefix, names=None, verify=True):
    """{name: numpy array} of the variables `names` (default: all), checksums verified.

    Arrays keep the stored dtype, except bfloat16 which becomes float32 (exactly). With
    `names=None`, string variables are skipped (asking for one by name is an error);
    partitioned variables and other unsupported dtypes are errors either way.
    """
    bundle = _Bundle(os.fspath(prefix))
    if names is None:
        wanted = [e for e in bundle.entries.values() if e.dtype != _STRING]
    else:
        if isinstance(names, str):
            names = [names]
        wanted = []
        for name in names:
            entry = bundle.entries.get(name)
            if entry is None:
                close = difflib.get_close_matches(name, list(bundle.entries), n=1)
                hint = f' (did you mean {close[0]!r}?)' if close else ''
                raise UserError(f'no variable {name!r} in checkpoint {bundle.prefix}{hint}; '
                                f'see list_variables() for the {len(bundle.entries)} it holds')
            if entry.dtype == _STRING:
                raise UserError(f'variable {name!r} in {bundle.index_path} is a string tensor, which this '
                                f'reader skips; leave it out of names=')
            wanted.append(entry)
    for entry in wanted:
        bundle.check_supported(entry)

    out = {}
    by_shard = {}
    for entry in wanted:
        by_shard.setdefault(entry.shard, []).append(entry)
    for shard in sorted(by_shard):
        with _open_shard(bundle, shard) as f:
            path = bundle.shard_path(shard)
            file_size = os.fstat(f.fileno()).st_size
            for entry in sorted(by_shard[shard], key=lambda e: e.offset):
                out[entry.name] = _read_entry(bundle, entry, f, path, file_size, verify)
    return {entry.name: out[entry.name] for entry in wanted}


def _read_entry(bundle, entry, f, path, file_size, verify):
    end = entry.offset + entry.size
    if end > file_size:
        raise UserError(f'checkpoint data file {path} is truncated: it has {file_size} bytes but variable '
                        f'{entry.name!r} ends at byte {end}; copy or download the checkpoint again')
    itemsize = 2 if entry.dtype == _BFLOAT16 else _DTYPES[entry.dtype].itemsize
    expected = itemsize * int(np.prod(entry.shape, dtype=np.int64))
    if entry.size != expected:
        raise UserError(f'{bundle.index_path} is inconsistent: variable {entry.name!r} of shape '
                        f'{entry.shape} should take {expected} bytes but takes {entry.size}; '
                        f'copy or download the checkpoint again')
    raw = np.empty(entry.size, dtype=np.uint8)
    f.seek(entry.offset)
    got = f.readinto(memoryview(raw)) if entry.size else 0
    if got != entry.size:
        raise UserError(f'checkpoint data file {path} is truncated: variable {entry.name!r} is cut off; '
                        f'copy or download the checkpoint again')
    if verify and masked_crc32c(raw) != entry.crc:
        raise UserError(f'checksum mismatch for variable {entry.name!r} in {path}: the file is corrupt; '
                        f'copy or download the checkpoint again')
    return _decode(raw, entry, bundle.big_endian)
