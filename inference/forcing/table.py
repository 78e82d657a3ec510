"""Where each request's forcing state is: live under its key (vLLM V1: the row; V2: the slot), or
parked while its request is preempted; releasing a request from forcing; the records the offline
engine and the server read. The base of `inference.forcing.batch.ForcingBatch`.

A state belongs to its request, not to its row or slot. A request admitted through vLLM's frontend
carries an identity (`forcing_request.identity`); the table finds its state by it wherever the
engine puts the request back, also while its old slot still holds it (Model Runner V2 frees a
preempted request's slot without telling the processor). Parked states are bounded: aborted requests,
and those a client's stop string ended, never come back, and the engine does not say which left for
good, so past `max_parked` the oldest goes.

Run: imported by `inference.forcing.batch`; tested through it (tests/test_forcing.py, tests/test_processor_v2.py).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Hashable

from thinkscale.inference.forcing.budget import THINK
from thinkscale.inference.forcing.state import RowState, record_of

log = logging.getLogger(__name__)


class RequestTable:
    """Live states by key, the key of each identified live state, parked states by identity, and the
    per-request device-flag slots (`uid`s) they hold."""

    def __init__(self, max_parked: int, records_dir: str | None):
        self.records_dir = records_dir
        self.released = 0  # requests released from forcing (an inconsistency or a lost state)
        self.rows: dict[Hashable, RowState] = {}
        self.where: dict[Hashable, Hashable] = {}  # identity -> key, for the live rows
        self.parked: dict[Hashable, RowState] = {}  # preempted requests, by identity, until re-added
        self.max_parked = max_parked
        self._free_uids: list[int] = []
        self._next_uid = 0

    def _place(self, key: Hashable, s: RowState) -> None:
        self.rows[key] = s
        if s.identified:  # (a fallback key may recur: two live requests may share it)
            self.where[s.park_key] = key

    def _unplace(self, key: Hashable) -> RowState | None:
        s = self.rows.pop(key, None)
        if s is not None and self.where.get(s.park_key) == key:
            del self.where[s.park_key]
        return s

    def _stale_key(self, identity: Hashable) -> Hashable | None:
        """The key under which a request that is joining again still sits (a request is in one slot at a time)."""
        return self.where.get(identity)

    def _park(self, s: RowState) -> None:
        self.parked[s.park_key] = s
        # (were an evicted state a preempted request's after all, it is released from forcing when it
        # resumes, and says so)
        while len(self.parked) > self.max_parked:
            self._free(self.parked.pop(next(iter(self.parked))))

    def _uid(self) -> int:
        if self._free_uids:
            return self._free_uids.pop()
        self._next_uid += 1
        return self._next_uid - 1

    def _free(self, s: RowState) -> None:
        self._free_uids.append(s.uid)

    # ---- releasing a request from forcing -----------------------------------------------------
    def release(self, key: Hashable, reason: str) -> None:
        """Stop forcing the request under `key` (it decodes on untouched), say why in its record, log once."""
        s = self._unplace(key)
        if s is not None:
            self._give_up(s, reason)

    def _give_up(self, s: RowState, reason: str) -> None:
        self.released += 1
        log.error("budget forcing released a request from forcing (%d so far): %s; it decodes on unforced, "
                  "and its result says so", self.released, reason)  # fmt: skip
        s.forcing_error = reason
        self._write_record(s, len(s.output), force=True)
        self._free(s)

    def _release_unknown(self, params, reason: str) -> None:
        self.released += 1
        log.error("budget forcing released a request from forcing (%d so far): %s", self.released, reason)
        record = (params.extra_args or {}).get("record")
        if record and self.records_dir is not None:
            self._dump(record, {"forcing_error": reason})

    def _write_record(self, s: RowState, through: int, force: bool = False) -> None:
        """Write the state when thinking has ended and when the request is done (once each), and when
        it is released from forcing (`force`)."""
        if not s.record or self.records_dir is None or (not force and s.phase in (THINK, s.recorded)):
            return
        s.recorded = s.phase
        record = record_of(s) | {"through": through}
        if s.forcing_error:
            record["forcing_error"] = s.forcing_error
        self._dump(s.record, record)

    def _dump(self, name: str, record: dict) -> None:
        path = os.path.join(self.records_dir, f"{name}.json")
        tmp = f"{path}.tmp{os.getpid()}"
        with open(tmp, "w") as f:
            json.dump(record, f)
        os.replace(tmp, path)  # a reader never sees half a record
