"""TFRecord files without TensorFlow: length, masked CRC32C of length, data, masked CRC.

Beam jobs and generation use this so they never pay TensorFlow's import; TensorFlow's own
readers read these files as usual.
"""
import struct

import google_crc32c

from musekit.errors import MusekitError

_MASK_DELTA = 0xA282EAD8
READ_CHUNK = 1 << 20      # bytes a record's data is read by


def _masked_crc(data):
    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def encode_record(data):
    """The bytes of one TFRecord holding `data`."""
    length = struct.pack('<Q', len(data))
    return b''.join((length, struct.pack('<I', _masked_crc(length)),
                     data, struct.pack('<I', _masked_crc(data))))


def write_records(fileobj, records):
    """Writes each bytes object of `records` to the open binary file `fileobj`."""
    n = 0
    for data in records:
        fileobj.write(encode_record(data))
        n += 1
    return n


def read_records(fileobj, name='<stream>'):
    """Yields the data of each record; a truncated or corrupt file raises MusekitError."""
    index = 0
    while True:
        header = fileobj.read(12)
        if not header:
            return
        if len(header) < 12:
            raise MusekitError('%s: truncated TFRecord header at record %d' % (name, index))
        (length,), (length_crc,) = struct.unpack('<Q', header[:8]), struct.unpack('<I', header[8:])
        if _masked_crc(header[:8]) != length_crc:
            raise MusekitError('%s: corrupt TFRecord length at record %d' % (name, index))
        data = _read_up_to(fileobj, length)
        footer = fileobj.read(4)
        if len(data) < length or len(footer) < 4:
            raise MusekitError('%s: truncated TFRecord at record %d' % (name, index))
        if _masked_crc(data) != struct.unpack('<I', footer)[0]:
            raise MusekitError('%s: TFRecord checksum mismatch at record %d' % (name, index))
        yield data
        index += 1


def _read_up_to(fileobj, length):
    """`length` bytes, or fewer at the end of the file, read a chunk at a time: a damaged
    (but checksummed) length of terabytes must not make Python allocate terabytes."""
    chunks, left = [], length
    while left > 0:
        chunk = fileobj.read(min(left, READ_CHUNK))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b''.join(chunks)


def read_record_file(path):
    """All records of one local TFRecord file, as a list of bytes."""
    with open(path, 'rb') as f:
        return list(read_records(f, path))
