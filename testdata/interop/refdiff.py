"""Differential oracle: the Python reference (qp_capsule) sealing and verifying.

The Go tests run this script with the reference on PYTHONPATH (see
../shared/README.md) and QUANTUMPIPES_DATA_DIR pointing at a temporary data
directory. One process per direction handles a whole batch:

  refdiff.py seal N SEED     seal N random app-style capsules; print one JSON
                             line per capsule: {"sealed": <sealed dict>,
                             "ref_ok": <the reference verifies it after a JSON
                             round trip>, "stored_ok": <its hash over the
                             content as stored matches>}; the first line is
                             {"public_key": hex}
  refdiff.py verify          read sealed dicts (one JSON line each) sealed
                             elsewhere with the data directory's key; print
                             {"ok": bool, "error": str} per capsule, then
                             {"chain_ok": bool, "error": str} for the
                             reference's chain verification of them in order
  refdiff.py check [PUBHEX]  read one sealed dict and say whether the
                             reference verifies it, with the public key
                             PUBHEX or else the data directory's keys (the
                             reproducer the Go tests print)
  refdiff.py app-chain DIR N write an N-capsule chain the way an application
                             does (CapsuleChain.seal_and_store, keyring) to
                             DIR/chain.json and DIR/capsules.db (the schema
                             of qp_capsule/storage.py), after checking that
                             the reference verifies it
  refdiff.py legacy-chain DIR N
                             the same, sealed as qp-capsule 1.5.2 and earlier
                             did: without spec_version in the content (it
                             joined the canonical content in 1.5.3)

In "seal", one capsule in LEGACY_EVERY is sealed the 1.5.2 way too, and its
line says "legacy": true.
"""

import asyncio
import contextlib
import json
import random
import sqlite3
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from uuid import UUID

from qp_capsule import (
    AuthoritySection,
    Capsule,
    CapsuleType,
    ContextSection,
    ExecutionSection,
    Keyring,
    OutcomeSection,
    ReasoningOption,
    ReasoningSection,
    Seal,
    ToolCall,
    TriggerSection,
    compute_hash,
)
from qp_capsule.chain import CapsuleChain

CONTENT_KEYS = None  # set after the first to_dict

# One capsule in LEGACY_EVERY of "seal" is sealed without spec_version.
LEGACY_EVERY = 5

_to_dict = Capsule.to_dict


@contextlib.contextmanager
def sealed_as_152():
    """Seal (and serialize) content the way qp-capsule 1.5.2 and earlier
    did: spec_version was not part of the content before 1.5.3, so it is
    neither hashed nor stored."""
    def to_dict(self):
        d = _to_dict(self)
        del d["spec_version"]
        return d
    Capsule.to_dict = to_dict
    try:
        yield
    finally:
        Capsule.to_dict = _to_dict

STRINGS = [
    "", "x", "deploy", "café", "naïve ✓", "日本語", "😀", "a\U0001f600b", "\u2028", "\u2029",
    "line\nbreak", "tab\there", "\x00\x01\x1f", "\x7f", 'quote "q"', "back\\slash", "</script>&<",
    "\ufeffbom", "\uffff", "\U0010ffff", "e\u0301", " spaced ", "1.0", "null",
]
KEYS = ["a", "b", "z", "A", "_", "é", "😀", "\uffff", "key", "cost_usd", "n", "", " ", "a\u0000", "ü", "Z9"]


def rstr(rng):
    if rng.random() < 0.7:
        return rng.choice(STRINGS)
    return "".join(rng.choice("abcxyz éü😀\u2028\n\"\\") for _ in range(rng.randint(0, 12)))


def rnum(rng):
    k = rng.randint(0, 13)
    if k == 0:
        return rng.randint(-10, 10)
    if k == 1:
        return rng.choice([2**53 + 1, -(2**63), 2**64, 10**30, -(10**40), 123456789012345678901234567890])
    if k == 2:
        return rng.random()
    if k == 3:
        return rng.choice([0.0, -0.0, 1.0, 5.0, 0.1 + 0.2, 1e16, 1e22, 1e-05, 4e-05, 1.5e-07, 1e-300, 1e300, 0.0001, 123456.789, 1000000000000000.0])
    if k == 4:
        return rng.uniform(-1e6, 1e6)
    if k == 5:
        return float(rng.randint(-1000, 1000))
    if k == 6:
        return rng.randint(0, 2**40)
    if k == 7:
        return rng.random() * 10 ** rng.randint(-20, 20)
    if k == 8:
        return True
    if k == 9:
        return False
    if k == 10:
        return round(rng.random(), rng.randint(0, 4))
    if k == 11:
        return -rng.random()
    if k == 12:
        return 2 ** rng.randint(50, 200)
    return rng.randint(-(2**31), 2**31)


def rvalue(rng, depth=0):
    k = rng.randint(0, 9 if depth < 3 else 5)
    if k <= 1:
        return rnum(rng)
    if k == 2:
        return rstr(rng)
    if k == 3:
        return None
    if k == 4:
        return rng.choice([True, False])
    if k == 5:
        return rng.choice([{}, [], "", 0, 0.0])
    if k in (6, 7):
        return rdict(rng, depth + 1)
    if k == 8:
        return [rvalue(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return tuple(rvalue(rng, depth + 1) for _ in range(rng.randint(0, 3)))


def rdict(rng, depth=0):
    d = {}
    for _ in range(rng.randint(0, 5)):
        if rng.random() < 0.5:
            k = rng.choice(KEYS)
        else:
            k = rstr(rng)
        d[k] = rvalue(rng, depth)
    return d


def rtimestamp(rng):
    dt = datetime(
        rng.randint(1990, 2040), rng.randint(1, 12), rng.randint(1, 28),
        rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59),
        rng.choice([0, 0, rng.randint(0, 999999), 7919, 500000]),
    )
    k = rng.randint(0, 5)
    if k == 0:
        return dt  # naive, as datetime.now() or utcnow() gives
    if k == 1:
        return dt.replace(tzinfo=UTC)
    if k == 2:
        return dt.replace(tzinfo=timezone(timedelta(hours=rng.choice([-8, -5, 1, 9]), minutes=rng.choice([0, 30]))))
    if k == 3:
        return datetime.fromisoformat(dt.isoformat() + "Z")  # a parsed "Z" timestamp
    if k == 4:
        return datetime.now()
    return datetime.now(UTC)


def ruuid(rng):
    return UUID(int=rng.getrandbits(128), version=4)


def rconfidence(rng):
    return rng.choice([0, 1, 1, 0.0, 1.0, 0.5, 0.95, rng.random(), round(rng.random(), 2), True])


def rfeasibility(rng):
    # An int feasibility makes a capsule the reference cannot verify itself
    # (from_dict turns it into a float): keep it rare.
    return rng.choice([0.0, 1.0, 0.25, rng.random(), rng.random(), 1 if rng.random() < 0.1 else 0.5])


def rcapsule(rng):
    options = []
    if rng.random() < 0.4:
        for i in range(rng.randint(1, 3)):
            options.append(ReasoningOption(
                id=f"opt_{i}", description=rstr(rng), pros=[rstr(rng)], cons=[],
                estimated_impact=rdict(rng, 2), feasibility=rfeasibility(rng),
                risks=[rstr(rng) for _ in range(rng.randint(0, 2))], selected=i == 0,
                rejection_reason="" if i == 0 else rstr(rng),
            ))
    considered = [] if options or rng.random() < 0.7 else [rstr(rng), rstr(rng)]
    return Capsule(
        id=ruuid(rng),
        type=rng.choice(list(CapsuleType)),
        domain=rng.choice(["agents", "interop", "", "vault", rstr(rng)[:50]]),
        parent_id=ruuid(rng) if rng.random() < 0.3 else None,
        sequence=rng.randint(0, 10**6) if rng.random() < 0.5 else 0,
        previous_hash="%064x" % rng.getrandbits(256) if rng.random() < 0.7 else None,
        trigger=TriggerSection(
            type=rng.choice(["user_request", "scheduled", "system", "agent"]),
            source=rstr(rng), timestamp=rtimestamp(rng), request=rstr(rng),
            correlation_id=rng.choice([None, "", rstr(rng)]), user_id=rng.choice([None, "", "u-1"]),
        ),
        context=ContextSection(
            agent_id=rstr(rng), session_id=rng.choice([None, str(ruuid(rng)), "s-1"]),
            environment=rdict(rng),
        ),
        reasoning=ReasoningSection(
            analysis=rstr(rng), options=options, options_considered=considered,
            selected_option=rstr(rng), reasoning=rstr(rng), confidence=rconfidence(rng),
            model=rng.choice([None, "gpt-x", ""]), prompt_hash=rng.choice([None, "%064x" % rng.getrandbits(256)]),
        ),
        authority=AuthoritySection(
            type=rng.choice(["autonomous", "human_approved", "policy", "escalated"]),
            approver=rng.choice([None, "", "alice"]), policy_reference=rng.choice([None, "p-1"]),
            chain=[rdict(rng, 2) for _ in range(rng.randint(0, 2))],
            escalation_reason=rng.choice([None, rstr(rng)]),
        ),
        execution=ExecutionSection(
            tool_calls=[
                ToolCall(tool=rstr(rng), arguments=rdict(rng, 1), result=rvalue(rng, 1),
                         success=rng.choice([True, False]), duration_ms=rng.randint(0, 10**7),
                         error=rng.choice([None, rstr(rng)]))
                for _ in range(rng.randint(0, 2))
            ],
            duration_ms=rng.randint(0, 10**9), resources_used=rdict(rng, 1),
        ),
        outcome=OutcomeSection(
            status=rng.choice(["pending", "success", "failure", "partial", "blocked"]),
            result=rvalue(rng), summary=rstr(rng), error=rng.choice([None, "", rstr(rng)]),
            side_effects=[rstr(rng) for _ in range(rng.randint(0, 2))], metrics=rdict(rng, 1),
        ),
    )


def content_of(sealed):
    return {k: v for k, v in sealed.items() if k not in ("hash", "signature", "signature_pq", "signed_at", "signed_by")}


def ref_verifies(seal, sealed):
    """The reference's verdict on a sealed dict read back from JSON text."""
    try:
        return seal.verify(Capsule.from_sealed_dict(json.loads(json.dumps(sealed))))
    except Exception:
        return False


def cmd_seal(n, seed):
    rng = random.Random(seed)
    seal = Seal(enable_pq=False)
    out = sys.stdout
    out.write(json.dumps({"public_key": seal.get_public_key()}) + "\n")
    for i in range(n):
        legacy = i % LEGACY_EVERY == LEGACY_EVERY - 1
        c = rcapsule(rng)
        with sealed_as_152() if legacy else contextlib.nullcontext():
            seal.seal(c)
            sealed = c.to_sealed_dict()
        stored = json.loads(json.dumps(sealed, ensure_ascii=rng.random() < 0.5))
        line = {
            "sealed": sealed,
            "legacy": legacy,
            # The reference (1.5.3) re-serializes its model, which fills in
            # spec_version: it rejects every legacy capsule.
            "ref_ok": ref_verifies(seal, sealed),
            "stored_ok": compute_hash(content_of(stored)) == c.hash,
        }
        out.write(json.dumps(line, ensure_ascii=False) + "\n")


class MemoryStorage:
    """The storage protocol's reads and writes, in memory, for CapsuleChain."""

    def __init__(self, capsules=()):
        self.capsules = list(capsules)

    async def store(self, capsule, tenant_id=None):
        self.capsules.append(capsule)
        return capsule

    async def get_latest(self, tenant_id=None):
        return self.capsules[-1] if self.capsules else None

    async def get_all_ordered(self, tenant_id=None):
        return list(self.capsules)


def cmd_verify():
    seal = Seal(enable_pq=False, keyring=Keyring())
    pub = seal.get_public_key()
    caps = []
    for line in sys.stdin:
        if not line.strip():
            continue
        d = json.loads(line)
        try:
            c = Capsule.from_sealed_dict(d)
            caps.append(c)
            r = seal.verify_with_key_detailed(c, pub)
            res = {"ok": r.ok and seal.verify(c), "error": r.message}
        except Exception as e:  # the reference cannot even read it
            res = {"ok": False, "error": f"{type(e).__name__}: {e}"}
        print(json.dumps(res), flush=False)
    r = asyncio.run(CapsuleChain(MemoryStorage(caps)).verify(seal=seal))
    print(json.dumps({"chain_ok": r.valid, "error": r.error or ""}))


def cmd_check():
    d = json.load(sys.stdin)
    seal = Seal(enable_pq=False, keyring=Keyring())
    c = Capsule.from_sealed_dict(d)
    if len(sys.argv) > 2:
        print("reference verify_with_key:", seal.verify_with_key_detailed(c, sys.argv[2]))
    else:
        print("reference verify:", seal.verify_detailed(c))
    print("hash of the content as stored matches:", compute_hash(content_of(d)) == d.get("hash"))
    print("hash the reference recomputes:", compute_hash(c.to_dict()), "stored:", d.get("hash"))


SCHEMA = """
CREATE TABLE capsules (
	id VARCHAR(36) NOT NULL,
	type VARCHAR(20) NOT NULL,
	sequence INTEGER NOT NULL,
	previous_hash VARCHAR(64),
	data TEXT NOT NULL,
	hash VARCHAR(64) NOT NULL,
	signature TEXT NOT NULL,
	signature_pq TEXT NOT NULL,
	signed_at VARCHAR(40),
	signed_by VARCHAR(32),
	session_id VARCHAR(36),
	PRIMARY KEY (id),
	CONSTRAINT uq_capsule_sequence UNIQUE (sequence)
);
CREATE INDEX ix_capsules_sequence ON capsules (sequence);
CREATE INDEX ix_capsules_hash ON capsules (hash);
CREATE INDEX ix_capsules_session_id ON capsules (session_id);
"""


def app_capsule(i):
    """What an application's code typically records: ints where floats are
    typed, naive datetimes, free-form data of every kind."""
    naive = datetime(2026, 3, 1, 12, 0, i % 60, 7919 * i)
    ts = [naive, naive.replace(tzinfo=UTC), datetime.fromisoformat("2026-03-01T12:00:00Z"),
          naive.replace(tzinfo=timezone(timedelta(hours=2)))][i % 4]
    opts = []
    if i % 3 == 0:
        opts = [
            ReasoningOption(id="opt_0", description="retry", feasibility=0.9, selected=True),
            ReasoningOption(id="opt_1", description="give up ✗", feasibility=0.1, rejection_reason="too early"),
        ]
    return Capsule(
        type=[CapsuleType.AGENT, CapsuleType.TOOL, CapsuleType.CHAT][i % 3],
        domain="app",
        trigger=TriggerSection(type="agent", source="svc", timestamp=ts, request=f"job {i} — ünïcode 😀\u2028"),
        context=ContextSection(agent_id="worker", session_id="s-%d" % (i // 4),
                               environment={"attempt": i, "ratio": i / 7, "big": 10**25 + i, "flags": (True, None)}),
        reasoning=ReasoningSection(options=opts, selected_option="retry" if opts else "",
                                   confidence=[1, 0, 0.75, 1.0][i % 4], model=None if i % 2 else "m"),
        execution=ExecutionSection(
            tool_calls=[ToolCall(tool="http", arguments={"url": "https://x/?a=1&b=<2>"}, result={"status": 200, "ms": 12.5},
                                 success=True, duration_ms=12)],
            duration_ms=13 * i, resources_used={"tokens": 1000 + i, "cost_usd": 4e-05 * i}),
        outcome=OutcomeSection(status="success" if i % 5 else "failure", result=[i, i * 0.5, "x", None, {"k": []}],
                               summary="" if i % 2 else "done", error=None if i % 5 else "boom",
                               side_effects=["wrote"] if i % 2 else [], metrics={"latency_ms": 12.25, "n": i}),
    )


def cmd_app_chain(out, n, legacy=False):
    out = Path(out)
    if legacy:
        with sealed_as_152():
            write_app_chain(out, n)
        if "spec_version" in json.loads((out / "chain.json").read_text())[0]:
            sys.exit("the legacy chain has spec_version")
    else:
        write_app_chain(out, n)


def write_app_chain(out, n):
    keyring = Keyring()
    seal = Seal(enable_pq=False, keyring=keyring)
    chain = CapsuleChain(MemoryStorage())
    for i in range(n):
        asyncio.run(chain.seal_and_store(app_capsule(i), seal=seal))
    r = asyncio.run(chain.verify(seal=seal))
    if not r.valid:
        sys.exit(f"the reference does not verify its own app chain: {r.error}")
    caps = chain.storage.capsules
    (out / "chain.json").write_text(json.dumps([c.to_sealed_dict() for c in caps], indent=2))
    db = sqlite3.connect(out / "capsules.db")
    db.executescript(SCHEMA)
    for c in caps:
        db.execute(
            "INSERT INTO capsules VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (str(c.id), c.type.value, c.sequence, c.previous_hash, json.dumps(c.to_dict()), c.hash,
             c.signature, c.signature_pq, c.signed_at.isoformat() if c.signed_at else None,
             c.signed_by, c.context.session_id),
        )
    db.commit()
    db.close()
    (out / "public_key.hex").write_text(seal.get_public_key())


def main():
    cmd = sys.argv[1]
    if cmd == "seal":
        cmd_seal(int(sys.argv[2]), int(sys.argv[3]))
    elif cmd == "verify":
        cmd_verify()
    elif cmd == "check":
        cmd_check()
    elif cmd == "app-chain":
        cmd_app_chain(sys.argv[2], int(sys.argv[3]))
    elif cmd == "legacy-chain":
        cmd_app_chain(sys.argv[2], int(sys.argv[3]), legacy=True)
    else:
        sys.exit(f"unknown command {cmd!r}")


if __name__ == "__main__":
    main()
