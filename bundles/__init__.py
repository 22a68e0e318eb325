"""Trained bundles shipped with musekit (installed as package data of musekit.bundles), so
`musekit_generate --bundle_file=lookback_rnn` works after any install."""
