"""What piece types read of encoders and extractors is declared as protocols and checked
when a piece type is built: a plugin lacking it is one line, not an AttributeError later."""
import pytest

from musekit.bundle import load_bundle, shipped_bundles
from musekit.config import get_config
from musekit.pieces import base as pieces_base
from musekit.registry import PIECES
from refusals import refusal


@pytest.mark.parametrize('name', sorted(shipped_bundles()))
def test_every_shipped_bundle_builds_its_piece_type(name):
    bundle = load_bundle(name)
    encoder = bundle.make_encoder()
    piece = PIECES.get(encoder.piece_type)(encoder, bundle.config.make_extractor())
    for protocol in piece.reads_encoder:
        assert isinstance(encoder, protocol)


def test_a_piece_type_refuses_an_encoder_without_what_it_reads():
    config = get_config('wavenet')
    assert refusal(PIECES.get('melody'), config.make_encoder(), config.make_extractor()) == (
        "piece type 'melody' reads max_note, min_note of its encoder (NoteRange); encoder "
        "'mu_law' has not")
    melody = get_config('lookback_rnn')
    assert refusal(PIECES.get('audio'), config.make_encoder(), melody.make_extractor()) == (
        "piece type 'audio' reads sample_rate of its extractor (SampleRate); extractor "
        "'melody' has not")


def test_every_piece_type_declares_protocols():
    for name in PIECES.names():
        piece = PIECES.get(name)
        for protocol in piece.reads_encoder + piece.reads_extractor:
            assert isinstance(protocol, type) and protocol._is_runtime_protocol
            assert pieces_base._names(protocol)


@pytest.mark.parametrize('family, config, fits', [
    ('biaxial_rnn', 'biaxial_jsb', True), ('biaxial_rnn', 'snu_jsb', False),
    ('biaxial_rnn', 'wavenet', False), ('wavenet', 'wavenet', True),
    ('wavenet', 'wavenet_conditioned', True), ('wavenet', 'biaxial_jsb', False),
    ('wavenet', 'lookback_rnn', False)])
def test_families_check_encoder_specs_not_classes(family, config, fits):
    import importlib
    module = importlib.import_module('musekit.models.' + family)
    encoder = get_config(config).make_encoder()
    if fits:
        module.check_encoder(encoder)
    else:
        message = refusal(module.check_encoder, encoder)
        assert message.startswith('model %s reads ' % family)
        assert "encoder %r gives inputs %s and labels %s" % (
            encoder.name, encoder.input_spec.describe(), encoder.label_spec.describe()) in message
