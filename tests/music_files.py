"""Builders of small music files (good and bad) for the source and convert tests.

Everything is made in memory or under a given folder: no network, no shared data.
"""
import io
import os
import struct
import zipfile

# --- MIDI -------------------------------------------------------------------------------

MIDI_PITCHES = (60, 64, 67, 72)


def make_midi_bytes(pitches=MIDI_PITCHES, velocity=80, step=0.5):
    """A one-instrument MIDI file (via note_seq) playing `pitches` one after another."""
    import note_seq
    from note_seq.protobuf import music_pb2
    ns = music_pb2.NoteSequence()
    ns.ticks_per_quarter = 220
    ns.tempos.add(qpm=120)
    for i, pitch in enumerate(pitches):
        ns.notes.add(pitch=pitch, velocity=velocity, start_time=i * step,
                     end_time=(i + 1) * step, instrument=0, program=0)
    ns.total_time = len(pitches) * step
    midi = note_seq.sequence_proto_to_pretty_midi(ns)
    out = io.BytesIO()
    midi.write(out)
    return out.getvalue()


def _vlq(n):
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    return bytes(reversed(out))


def make_raw_midi_bytes(ticks_per_beat):
    """A hand-assembled format-0 MIDI file with the given header division (0 is invalid)."""
    track = b''.join([
        _vlq(0) + b'\xff\x51\x03\x07\xa1\x20',    # tempo 500000 us/quarter
        _vlq(0) + b'\x90\x3c\x40',                # note on C4
        _vlq(96) + b'\x80\x3c\x00',               # note off C4
        _vlq(0) + b'\xff\x2f\x00',                # end of track
    ])
    return (b'MThd' + struct.pack('>IHHH', 6, 0, 1, ticks_per_beat)
            + b'MTrk' + struct.pack('>I', len(track)) + track)


def make_truncated_midi_bytes():
    """A real MIDI file cut off in the middle of its track."""
    data = make_midi_bytes()
    return data[:len(data) // 2]


# --- MusicXML ---------------------------------------------------------------------------

# C4 quarter, E4 quarter, G4 half in 4/4 at divisions 1; expected (pitch, start, end) at the
# default 120 qpm.
MUSICXML_NOTES = ((60, 0.0, 0.5), (64, 0.5, 1.0), (67, 1.0, 2.0))


def make_musicxml_bytes(notes=(('C', 4, 1), ('E', 4, 1), ('G', 4, 2)), title='Test'):
    """A tiny uncompressed MusicXML score-partwise; `notes` are (step, octave, quarters)."""
    note_xml = ''.join(
        '<note><pitch><step>%s</step><octave>%d</octave></pitch>'
        '<duration>%d</duration><type>%s</type></note>'
        % (step, octave, quarters, {1: 'quarter', 2: 'half', 4: 'whole'}[quarters])
        for step, octave, quarters in notes)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<score-partwise version="3.1">'
            '<work><work-title>%s</work-title></work>'
            '<part-list><score-part id="P1"><part-name>Piano</part-name></score-part>'
            '</part-list>'
            '<part id="P1"><measure number="1">'
            '<attributes><divisions>1</divisions><key><fifths>0</fifths></key>'
            '<time><beats>4</beats><beat-type>4</beat-type></time>'
            '<clef><sign>G</sign><line>2</line></clef></attributes>'
            '%s</measure></part></score-partwise>\n' % (title, note_xml)).encode('utf-8')


def container_xml(full_path):
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<container><rootfiles><rootfile full-path="%s" '
            'media-type="application/vnd.recordare.musicxml+xml"/></rootfiles></container>\n'
            % full_path).encode('utf-8')


def make_zip_bytes(members, compression=zipfile.ZIP_DEFLATED):
    """A zip archive of `members`, a dict name -> bytes."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, 'w', compression) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return out.getvalue()


def make_mxl_bytes(score=None, score_name='score.xml'):
    """A compressed MusicXML (.mxl): META-INF/container.xml pointing at `score_name`."""
    return make_zip_bytes({
        'mimetype': b'application/vnd.recordare.musicxml',
        'META-INF/container.xml': container_xml(score_name),
        score_name: score if score is not None else make_musicxml_bytes(),
    })


def make_mxl_missing_member_bytes():
    """An .mxl whose container names a score that is not in the archive."""
    return make_zip_bytes({
        'META-INF/container.xml': container_xml('missing.xml'),
        'other.xml': make_musicxml_bytes(),
    })


def make_zip_without_score_bytes():
    return make_zip_bytes({'readme.txt': b'no score here\n', 'image.png': b'\x89PNG'})


def make_zip_bomb_bytes(inflated_bytes):
    """An .mxl whose score member is `inflated_bytes` zeros (deflates ~1000:1)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, 'w', zipfile.ZIP_DEFLATED) as z:
        z.writestr('META-INF/container.xml', container_xml('score.xml'))
        z.writestr('score.xml', bytes(inflated_bytes))
    return out.getvalue()


# --- ABC --------------------------------------------------------------------------------

ABC_TWO_TUNES = (b'X:1\nT:One\nM:4/4\nL:1/4\nK:C\nCDEF|\n\n'
                 b'X:2\nT:Two\nM:4/4\nL:1/4\nK:C\nGABc|\n')
ABC_TUNE_PITCHES = ([60, 62, 64, 65], [67, 69, 71, 72])
ABC_GARBAGE = b'\x00\x01 }}}{{ this is not ABC notation at all\n'


# --- A mixed input folder ---------------------------------------------------------------

def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'wb') as f:
        f.write(data)
    return path


def make_mixed_folder(root, zip_bomb):
    """Writes good and bad music files under `root`.

    Returns (good, bad): `good` maps relpath -> number of NoteSequences it holds; `bad`
    maps relpath -> the BadInput reason it must fail with. README.txt is in neither
    (unsupported files are skipped, not failed). `zip_bomb` is the bytes of a zip bomb.
    """
    good = {
        'midi/song.mid': make_midi_bytes(),
        'xml/score.musicxml': make_musicxml_bytes(),
        'abc/tunes.abc': ABC_TWO_TUNES,
    }
    bad = {
        'bad/empty.mid': (b'', 'empty_file'),
        'bad/random.mid': (bytes(range(256)) * 4, 'midi_parse_error'),
        'bad/truncated.midi': (make_truncated_midi_bytes(), 'midi_parse_error'),
        'bad/zero_division.mid': (make_raw_midi_bytes(0), 'midi_parse_error'),
        'bad/random.mxl': (b'PK\x03\x04 not really a zip' * 10, 'bad_zip'),
        'bad/no_score.mxl': (make_zip_without_score_bytes(), 'zip_without_score'),
        'bad/missing_member.mxl': (make_mxl_missing_member_bytes(), 'zip_without_score'),
        'bad/bomb.mxl': (zip_bomb, 'zip_too_large'),
        'bad/not_xml.xml': (b'this is not xml <<<', 'musicxml_parse_error'),
        'bad/garbage.abc': (ABC_GARBAGE, 'abc_parse_error'),
    }
    for rel, data in good.items():
        write(os.path.join(root, rel), data)
    for rel, (data, _) in bad.items():
        write(os.path.join(root, rel), data)
    write(os.path.join(root, 'README.txt'), b'not music\n')
    return ({'midi/song.mid': 1, 'xml/score.musicxml': 1, 'abc/tunes.abc': 2},
            {rel: reason for rel, (_, reason) in bad.items()})
