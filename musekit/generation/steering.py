"""Steering: what a piece type adds to sampling, row by row (Magenta's
`modify_events_callback` and its generators' "generate until the piece is long enough").

Each output row (and each beam-search branch) has its own copy of the piece type's
Steering, made by `copy()` whenever rows are copied, so a steering may keep running state
about the events it has seen (how far it has read `events`, the time reached), costing
O(1) per step instead of a re-read of the history.
"""
import copy


class Steering:
    """The default steers nothing: every event is sampled and every row runs to num_steps."""

    def forced(self, events):
        """The event that must follow `events` (the row's events so far, primer included, in
        the model's space), or None to sample it. A forced event replaces the sample of its
        step and adds nothing to the row's log-likelihood (Magenta injects it unscored)."""
        return None

    def finished(self, events):
        """Whether the row whose events are `events` is complete, asked as each event is
        fed; once true it must stay true for longer `events`. Sampling then steps the row no
        more (it comes out shorter than num_steps); beam search goes on with it until every
        candidate has finished, so the piece type cuts outputs to their length."""
        return False

    def copy(self):
        """An independent copy for another row (deep by default: keep the state small)."""
        return copy.deepcopy(self)
