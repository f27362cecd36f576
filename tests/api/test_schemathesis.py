"""Real schemathesis against the running API: every check, and its stateful phase
following the OpenAPI links (:mod:`api.openapi_links`). Four runs: one with a supplier's
key, one with a bank's, one with the operator's, and one through a certificate's life with
the key of whoever may take each step (the core enterprise uploads and issues, the
supplier accepts, splits, transfers and offers, the bank buys).

Why a subprocess from its own virtualenv: eth-brownie pins hypothesis 6.27 in ``.venv``,
which no schemathesis release accepts; ``tools/bootstrap.sh`` installs the pinned current
release into ``.venv-fuzz`` (``tools/fuzz-requirements.txt``). Why a real server (uvicorn
on a loopback port, its background indexer and maturity job running) over a real anvil node:
schemathesis speaks HTTP, and what it finds must be what a client meets.

Each run gets a network of its own (a fresh ledger and database, seeded like ``scf up``:
``api.cli.seed``), so that the operator's pausing or suspending cannot starve the others'
runs. Before the run the network gets some business (a certificate accepted, split,
offered to the bank; others waiting for acceptance), and those ids are in fuzz
dictionaries, so generated requests reach real records too.

A run passes when no check fails. The one allowance, :data:`REFUSALS`, is per operation
and per problem code, each with its reason: schema-valid requests that the ledger's rules
refuse with 422. Knobs:
``SCF_FUZZ_MAX_EXAMPLES`` (cases per operation in the fuzzing phase),
``SCF_FUZZ_SCENARIOS`` (of the stateful phase) and ``SCF_FUZZ_SEED``.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from api.app import create_app
from api.cli.client import ApiClient
from api.cli.seed import (
    BANK_A,
    CORE,
    OPERATOR,
    SEED_NETWORK,
    TIER1,
    TIER2,
    full_uscc,
    seed_network,
)
from chain_client.node import AnvilNode
from tests.api.helpers import OPERATOR_KEY, make_settings, serve

ROOT = Path(__file__).resolve().parents[2]
SCHEMATHESIS = ROOT / ".venv-fuzz" / "bin" / "schemathesis"
MAX_EXAMPLES = int(os.environ.get("SCF_FUZZ_MAX_EXAMPLES", "15"))
#: scenarios (call sequences along the links) of the stateful phase
SCENARIOS = int(os.environ.get("SCF_FUZZ_SCENARIOS", "80"))
TIER1_USCC_BODY = next(org.uscc_body for org in SEED_NETWORK if org.name == TIER1)
#: fixed by default so that `make test` is repeatable; set another to explore. (It was 10
#: until issue 13's operations reshuffled what that seed's stateful phase draws: 4 distinct
#: links followed, all from GET /v1/me; seeds 3 and 7 follow 8 and 7 on the supplier run.)
SEED = int(os.environ.get("SCF_FUZZ_SEED", "3"))


@dataclass(frozen=True)
class Run:
    """One schemathesis run: the seeded organization whose key it sends, and for some
    operations another organization's key (name -> "METHOD /path" operations)."""

    sender: str
    others: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: how often a parameter that has a fuzz dictionary takes one of its values
    real_values: float = 0.5
    #: the operations it tests (a regular expression over paths; all when empty)
    paths: str = ""
    #: schemathesis' phases (all when empty), and the stateful phase's scenarios
    phases: str = ""
    scenarios: int = SCENARIOS


#: what a supplier and a bank do in a certificate's life (the core enterprise does the rest)
SUPPLIER_OPERATIONS = (
    "POST /v1/certificates/{certificate_id}/accept",
    "POST /v1/certificates/{certificate_id}/reject",
    "POST /v1/fragments/{fragment_id}/split",
    "POST /v1/fragments/{fragment_id}/transfer",
    "POST /v1/fragments/{fragment_id}/claim",
    "POST /v1/offers",
    "POST /v1/offers/{offer_id}/withdraw",
    "POST /v1/quotes",
)
BANK_OPERATIONS = ("POST /v1/offers/{offer_id}/accept", "PUT /v1/credit-lines")
RUNS = {
    "supplier": Run(TIER1),
    "financier": Run(BANK_A),
    "operator": Run(OPERATOR),
    # the lifecycle in one run, each step sent by a member who may take it, so that the
    # stateful phase can follow an uploaded invoice to its certificate, the certificate to
    # the supplier's acceptance, its fragment to a split, a transfer or an offer, and the
    # offer to the bank's acceptance. Only that phase (the others are the runs above), only
    # the lifecycle's operations, and real values wherever there are some: an issuance
    # needs six fields right at once, and a chain of four steps needs each to succeed.
    "lifecycle": Run(
        CORE,
        {TIER1: SUPPLIER_OPERATIONS, BANK_A: BANK_OPERATIONS},
        real_values=1.0,
        phases="stateful",
        scenarios=3 * SCENARIOS,
        paths=r"^/v1/(documents|certificates|fragments|offers|quotes)",
    ),
}


#: why a body's organization id may be refused although the schema allows any id
NOT_A_MEMBER = (
    "the body names an organization that does not exist or takes no part on the "
    "ledger (the operator's, an auditor's): a schema can bound an id, not say who "
    "is a member"
)
#: why an amount may be refused although the schema allows any amount
NO_MORE_THAN_THE_FRAGMENT = (
    "the amount is more than the fragment holds (or, for a split, "
    "all of it): a bound held by the ledger, not by the schema"
)
#: why an organization's proof of its own address may be refused
PROOF = (
    "the address must be proven: a challenge this service made, not expired, signed by "
    "that address (or a signer service signing for it): a signature no schema can check"
)
#: a bid's amounts are below 2**96 fen, as the ledger's (face values are capped there)
BELOW_2_96 = (
    "a bid's budget and amounts fit the bid book's 96-bit fields (below 2**96 fen, "
    "79 trillion CNY): a numeric bound on a decimal string that a pattern states only "
    "loosely"
)
#: why an issuance may be refused although the schema allows it (a payables row's too)
ISSUANCE = {
    "unknown_member": NOT_A_MEMBER,
    "invalid_invoice": "invoice numbers are read after NFKC and case folding and may "
    "then hold only digits, Latin letters and separators; a code must "
    "be 10 or 12 digits (docs/invoice-identity.md): rules over the "
    "normalized text that no JSON Schema pattern can state",
    "seller_mismatch": "a seller_tax_id must be the beneficiary's registered code, a "
    "value held by another record",
    "invalid_maturity": "the maturity must lie between the chain's clock and one year "
    "ahead: a window that moves with the chain",
}
#: why a new password may be refused although its length is within the schema's
NOT_A_REPETITION = (
    "a password may not be the login, nor a few characters repeated ('aaaaaaaaaaaa'): a "
    "rule across two fields, and over a string's distinct characters, that a pattern "
    "cannot state"
)
#: why a standing bid's terms may be refused although the schema allows them
BID_TERMS = {
    "invalid_rate_bands": "the bands' days rise from one band to the next and cover the "
    "shortest tenor: an order across array items that JSON Schema cannot state",
    "invalid_bid_limits": "the smallest amount per sale is at most the largest: a rule "
    "across two fields",
    "invalid_expiry": "the expiry must lie after the chain's clock: a window that moves "
    "with the chain",
    "invalid_amount": BELOW_2_96,
}
#: Refusals of schema-valid requests that are no defects, per operation: rules about the
#: ledger's state and about other records that a request's schema cannot state. For these
#: operations schemathesis' positive_data_acceptance takes a 422 (set in each run's
#: configuration: an accepted refusal must not end the stateful phase, which stops at its
#: first failure), and this test then holds every 422 such an operation gave a schema-valid
#: request to the codes listed here for it. Any other 422, and any 422 of another
#: operation, fails the run. (Found with the default seed and with seeds 3 and 7 at up to 50
#: cases per operation; another seed may meet another rule: add it here with its reason.)
REFUSALS: dict[str, dict[str, str]] = {
    "POST /v1/certificates": ISSUANCE,
    "POST /v1/payables/issue": ISSUANCE,
    "POST /v1/fragments/{fragment_id}/split": {
        "unknown_member": NOT_A_MEMBER,
        "insufficient_value": NO_MORE_THAN_THE_FRAGMENT,
    },
    "POST /v1/fragments/{fragment_id}/transfer": {"unknown_member": NOT_A_MEMBER},
    "POST /v1/offers": {
        "unknown_member": NOT_A_MEMBER,
        "insufficient_value": NO_MORE_THAN_THE_FRAGMENT,
    },
    "PUT /v1/credit-lines": {"unknown_member": NOT_A_MEMBER},
    "POST /v1/organizations": {
        "invalid_uscc": "a unified social credit code ends in a check character computed "
        "from the other 17 (GB 32100-2015), which a pattern cannot state",
        "invalid_proof": PROOF,
        "custody_unsupported": "an auditor signs nothing, so it keeps no key of its own: a "
        "rule across two fields (role, custody) that the schema leaves open",
    },
    "POST /v1/organizations/address-challenge": {
        "invalid_uscc": "a unified social credit code ends in a check character computed "
        "from the other 17 (GB 32100-2015), which a pattern cannot state",
    },
    "PUT /v1/approval-policy": {
        "duplicate_rule": "a policy names each command once: its rules are objects that "
        "differ in min_amount, so JSON Schema's uniqueItems cannot state it",
    },
    **{
        f"POST /v1/organizations/{{org_id}}/{action}": {
            "unknown_member": "the organization in the path exists but has no ledger account "
            "(the operator's own, an auditor's): nothing to suspend, reinstate "
            "or fund",
        }
        for action in ("suspend", "reinstate", "settlement-funds")
    },
    "POST /v1/organizations/{org_id}/key-rotation": {
        "unknown_member": "the organization in the path exists but has no ledger account "
        "(the operator's own, an auditor's): no key to rotate",
        "invalid_proof": PROOF,
    },
    "POST /v1/bids": {
        "unknown_member": NOT_A_MEMBER,
        "missing_issuers": "a financier's bid names the core enterprises it buys from, a "
        "core enterprise's defaults to itself: a rule on who sends it",
        **BID_TERMS,
    },
    "PUT /v1/bids/{bid_id}/terms": BID_TERMS,
    "PUT /v1/bids/{bid_id}/budget": {"invalid_amount": BELOW_2_96},
    "POST /v1/fragments/{fragment_id}/finance": {
        "unknown_member": NOT_A_MEMBER,
        "insufficient_value": NO_MORE_THAN_THE_FRAGMENT,
    },
    "POST /v1/organizations/{org_id}/users": {"weak_password": NOT_A_REPETITION},
    "POST /v1/webhooks": {
        "webhook_url_refused": "the address must resolve, and to a public address (or, on "
        "a network on one machine, any): what a name resolves to is no schema's to state",
    },
    "POST /v1/payables/preview": {
        "unreadable_payables": "the file must be CSV or Excel with a header row naming its "
        "columns: a format no schema of a binary part can state",
    },
    "PUT /v1/organizations/{org_id}/users/{user_id}/password": {"weak_password": NOT_A_REPETITION},
}
#: what positive_data_acceptance takes from the operations of REFUSALS: its defaults and 422
ACCEPTED_WITH_REFUSALS = ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]


@dataclass
class Network:
    url: str
    keys: dict[str, dict[str, Any]]
    #: ids of the business made before the run (for the fuzz dictionaries)
    ids: dict[str, list[Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class Failure:
    phase: str
    operation: str
    check: str
    status: int | None
    code: str | None
    title: str
    message: str

    def __str__(self) -> str:
        return (
            f"[{self.phase}] {self.operation} {self.check}: {self.title} "
            f"(answered {self.status} {self.code}) {self.message[:300]}"
        )


@dataclass
class Outcome:
    """What one schemathesis run did, read from its NDJSON event stream."""

    generated: int = 0  # schemathesis' own count of the cases it generated
    cases: int = 0  # cases whose checks the event stream records
    checks: Counter[tuple[str, str]] = field(default_factory=Counter)  # (check, status)
    links_followed: set[str] = field(default_factory=set)
    failures: list[Failure] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    #: (operation, code) -> how many schema-valid requests met that refusal of REFUSALS
    refused: Counter[tuple[str, str]] = field(default_factory=Counter)

    def table(self) -> str:
        names = sorted({name for name, _ in self.checks})
        rows = [
            f"  {n:<30} {self.checks[(n, 'success')]:>6} passed "
            f"{self.checks[(n, 'failure')]:>4} failed"
            for n in names
        ]
        head = (
            f"{self.generated} cases generated, {self.cases} with their checks recorded, "
            f"{len(self.links_followed)} distinct links followed"
        )
        return "\n".join(
            [head, *rows, *(f"  followed: {link}" for link in sorted(self.links_followed))]
        )


@pytest.fixture(scope="module")
def fuzzer() -> Path:
    if not SCHEMATHESIS.exists():
        pytest.fail(f"{SCHEMATHESIS} is missing: run `make setup` (tools/bootstrap.sh)")
    return SCHEMATHESIS


@contextmanager
def _start_network(anvil: AnvilNode, tmp: Path) -> Iterator[Network]:
    # rate limits far above what one fuzzer sends: 429s would only hide the other answers
    settings = make_settings(
        anvil,
        tmp,
        background=True,
        indexer_interval=0.2,
        maturity_interval=0.5,
        rate_limit_per_second=1000.0,
        rate_limit_burst=100_000,
    )
    for url in serve(create_app(settings)):
        operator = ApiClient(url, OPERATOR_KEY)
        try:
            network = Network(url, seed_network(operator))
        finally:
            operator.close()
        _do_business(network)
        yield network


def _client(network: Network, name: str) -> ApiClient:
    return ApiClient(network.url, str(network.keys[name]["api_key"]))


def _do_business(network: Network) -> None:
    """A certificate accepted, split and offered to the bank; three more only issued (for
    the supplier to accept or reject)."""
    org = {name: int(entry["org_id"]) for name, entry in network.keys.items()}
    core, tier1 = _client(network, CORE), _client(network, TIER1)
    try:
        now = int(core.get("/health")["block_time"])
        certificates, documents = [], []
        for n in range(4):
            doc = core.command(
                "POST",
                "/documents",
                files={"file": (f"invoice-{n}.pdf", f"invoice {n}".encode(), "application/pdf")},
            )
            issued = core.post(
                "/certificates",
                {
                    "beneficiary_id": org[TIER1],
                    "credit_provider_id": org[BANK_A],
                    "face_value": "50000000",
                    "maturity": now + 90 * 86_400,
                    "document_id": doc["id"],
                    "invoice_number": f"FUZZ-{n:04d}",
                },
            )
            documents.append(doc["id"])
            certificates.append(int(issued["certificate_id"]))
        root = tier1.post(f"/certificates/{certificates[0]}/accept")["root_fragment_id"]
        child = tier1.post(
            f"/fragments/{root}/split", {"to_org_id": org[TIER2], "amount": "5000000"}
        )["fragment_id"]
        offer = tier1.post(
            "/offers",
            {
                "fragment_id": root,
                "financier_id": org[BANK_A],
                "amount": "10000000",
                "rate_bps": 450,
                "expires_at": now + 30 * 86_400,
            },
        )["offer_id"]
    finally:
        core.close()
        tier1.close()
    network.ids = {
        "certificate": certificates,
        "document": documents,
        "fragment": [root, child],
        "offer": [int(offer)],
        "organization": sorted(org.values()),
        "future_time": [now + 7 * 86_400, now + 60 * 86_400],
    }
    for entry in network.keys.values():
        network.ids.setdefault(str(entry["role"]), []).append(int(entry["org_id"]))


def _config(network: Network, run: Run, path: Path) -> Path:
    """schemathesis.toml: the bearer key from the environment (never on a command line), the
    hook that keeps the run's own key alive, and values of real records (ids, members of
    the right role, times before maturity, amounts) sampled for the parameters that take
    them (``run.real_values`` of the time), so generated commands get past "no such
    record" and "not a member" too."""
    ids = network.ids
    dictionaries: dict[str, list[Any]] = {
        "certificates": ids["certificate"],
        "fragments": ids["fragment"],
        "offers": ids["offer"],
        "documents": ids["document"],
        "organizations": ids["organization"],
        "core_enterprises": ids["core_enterprise"],
        "members": ids["supplier"] + ids["financier"],
        "future_times": ids["future_time"],
        # the supplier and the bank whose keys the runs send: what is issued to them or
        # offered to them, they can take further
        "beneficiaries": [int(network.keys[TIER1]["org_id"])],
        "banks": [int(network.keys[BANK_A]["org_id"])],
        "beneficiary_codes": [full_uscc(TIER1_USCC_BODY)],
        "amounts": ["1", "100", "250000", "1000000"],
        "rates": [0, 450, 1200],
        "invoice_numbers": [f"FZ-{SEED}-{n}" for n in range(1000, 1300)],
    }
    parameters = {
        "path.certificate_id": "certificates",
        "query.certificate_id": "certificates",
        "path.fragment_id": "fragments",
        "body.fragment_id": "fragments",
        "path.offer_id": "offers",
        "path.document_id": "documents",
        "body.document_id": "documents",
        "path.org_id": "organizations",
        "query.holder_id": "organizations",
        "query.issuer_id": "core_enterprises",
        "body.to_org_id": "members",
        "body.financier_id": "banks",
        "body.beneficiary_id": "beneficiaries",
        "body.credit_provider_id": "banks",
        "body.core_enterprise_id": "core_enterprises",
        "body.maturity": "future_times",
        "body.expires_at": "future_times",
        "body.amount": "amounts",
        "body.face_value": "amounts",
        "body.limit": "amounts",
        "body.rate_bps": "rates",
        "body.invoice_number": "invoice_numbers",
        "body.seller_tax_id": "beneficiary_codes",
    }
    lines = [
        'hooks = "schemathesis_hooks"',
        'headers = { Authorization = "Bearer ${SCF_FUZZ_BEARER}" }',
        f"generation.max-examples = {MAX_EXAMPLES}",
        "",
        "[phases.stateful]",
        f"generation.max-examples = {run.scenarios}",
        # the document's own links only: inferred ones guess from lists (the first id
        # of an empty list) and spend the scenarios on links that cannot resolve
        "inference.algorithms = []",
        "",
    ]
    for name, values in dictionaries.items():
        lines += [f"[dictionaries.{name}]", f"values = {json.dumps(values)}", ""]
    lines.append("[parameters]")
    lines += [
        f'"{p}" = {{ dictionary = "{d}", probability = {run.real_values} }}'
        for p, d in parameters.items()
    ]
    blocks: dict[str, list[str]] = {
        op: [
            f"checks.positive_data_acceptance.expected-statuses = "
            f"{json.dumps(ACCEPTED_WITH_REFUSALS)}"
        ]
        for op in REFUSALS
    }
    for n, operations in enumerate(run.others.values(), 1):
        for operation in operations:
            blocks.setdefault(operation, []).append(
                f'headers = {{ Authorization = "Bearer ${{SCF_FUZZ_BEARER_{n}}}" }}'
            )
    for operation, settings in blocks.items():
        lines += ["", "[[operations]]", f'include-name = "{operation}"', *settings]
    path.write_text("\n".join(lines) + "\n")
    return path


def _own_key(network: Network, name: str) -> tuple[str, str]:
    """A key of its own for the run (id, token), issued by the operator."""
    operator = ApiClient(network.url, OPERATOR_KEY)
    try:
        key = operator.post(
            f"/organizations/{network.keys[name]['org_id']}/api-keys", {"label": "schemathesis"}
        )
    finally:
        operator.close()
    return str(key["id"]), str(key["api_key"])


def _run(fuzzer: Path, network: Network, run: Run, tmp: Path) -> tuple[Outcome, str]:
    reports = tmp / "reports"
    log = tmp / "schemathesis.log"
    command = [
        str(fuzzer),
        "--config-file",
        str(_config(network, run, tmp / "schemathesis.toml")),
        "--no-color",
        "run",
        f"{network.url}/openapi.json",
        "--checks",
        "all",
        "--seed",
        str(SEED),
        # every case of an operation, not up to its first failure: an expected failure
        # must not hide an unexpected one behind it
        "--continue-on-failure",
        "--workers",
        "1",
        "--request-timeout",
        "60",
        "--generation-database",
        "none",
        "--report",
        "ndjson,json",
        "--report-dir",
        str(reports),
    ]
    if run.paths:
        command += ["--include-path-regex", run.paths]
    if run.phases:
        command += ["--phases", run.phases]
    if run.phases == "stateful":  # the command line's count wins over the file's
        command += ["--max-examples", str(run.scenarios)]
    keys = [_own_key(network, name) for name in (run.sender, *run.others)]
    env = {
        **os.environ,
        "SCF_FUZZ_BEARER": keys[0][1],
        "SCF_FUZZ_OWN_KEY_IDS": ",".join(key_id for key_id, _ in keys),
        "PYTHONPATH": str(Path(__file__).parent),
    }  # schemathesis_hooks
    env.update({f"SCF_FUZZ_BEARER_{n}": token for n, (_, token) in enumerate(keys[1:], 1)})
    started = time.monotonic()
    with log.open("wb") as out:
        subprocess.run(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=tmp,
            timeout=900,
            check=False,
        )
    text = log.read_text(errors="replace")
    print(f"schemathesis as {run.sender}: {time.monotonic() - started:.0f} s")
    streams, summaries = sorted(reports.glob("*.ndjson")), sorted(reports.glob("*.json"))
    assert streams and summaries, f"schemathesis wrote no report:\n{text[-5000:]}"
    outcome = _read(streams[-1])
    outcome.generated = int(json.loads(summaries[-1].read_text())["test_cases"]["generated"])
    return outcome, text


def _read(stream: Path) -> Outcome:
    outcome = Outcome()
    for line in stream.read_text().splitlines():
        ((kind, event),) = json.loads(line).items()
        if "Error" in kind:
            outcome.errors.append(json.dumps(event)[:2000])
        if kind != "ScenarioFinished":
            continue
        recorder = event.get("recorder", {})
        cases = recorder.get("cases", {})
        for case_id, checks in recorder.get("checks", {}).items():
            outcome.cases += 1
            case = cases.get(case_id, {})
            value = case.get("value", {})
            if case.get("is_transition_applied") and case.get("transition"):
                outcome.links_followed.add(case["transition"]["id"])
            status, code = _answer(recorder.get("interactions", {}).get(case_id))
            operation = f"{value.get('method', '?')} {value.get('path', '?')}"
            positive = value.get("meta", {}).get("generation", {}).get("mode") == "positive"
            if positive and status == 422 and operation in REFUSALS:
                if code in REFUSALS[operation]:
                    outcome.refused[(operation, str(code))] += 1
                else:
                    outcome.failures.append(
                        Failure(
                            event.get("phase", "?"),
                            operation,
                            "positive_data_acceptance",
                            status,
                            code,
                            "Schema-valid request refused with a code not in REFUSALS",
                            "",
                        )
                    )
            for check in checks:
                outcome.checks[(check["name"], check["status"])] += 1
                if check["status"] != "failure":
                    continue
                info = check.get("failure_info", {}).get("failure", {})
                outcome.failures.append(
                    Failure(
                        phase=event.get("phase", "?"),
                        operation=operation,
                        check=check["name"],
                        status=status,
                        code=code,
                        title=str(info.get("title", "")),
                        message=str(info.get("message", "")),
                    )
                )
    return outcome


def _answer(interaction: dict[str, Any] | None) -> tuple[int | None, str | None]:
    """The status and, for a problem document, its ``code``."""
    if not interaction or not interaction.get("response"):
        return None, None
    response = interaction["response"]
    content = response.get("content") or {}
    raw = base64.b64decode(content["$base64"]) if "$base64" in content else b""
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body = None
    code = body.get("code") if isinstance(body, dict) else None
    return int(response["status_code"]), code


@pytest.mark.parametrize("name", list(RUNS))
def test_schemathesis_finds_nothing_unexplained(
    name: str,
    fuzzer: Path,
    anvil: AnvilNode,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    tmp = tmp_path_factory.mktemp(f"fuzz-{name}")
    with _start_network(anvil, tmp) as network:
        outcome, text = _run(fuzzer, network, RUNS[name], tmp)
    print(outcome.table())
    for (operation, code), count in sorted(outcome.refused.items()):
        print(f"  refused as expected x{count}: {operation} {code}")
    assert not outcome.errors, "schemathesis errors:\n" + "\n".join(outcome.errors)
    assert outcome.cases > 100, text[-5000:]
    followed = {link.split(" -> ")[1].split("] ")[1] for link in outcome.links_followed}
    assert len(followed) >= 5, f"the stateful phase followed few links: {followed}"
    if name == "lifecycle":  # issued against the upload, then accepted by the supplier
        assert {"IssueCertificateAgainstDocument", "AcceptCertificate"} <= followed, followed
    assert not outcome.failures, (
        f"{len(outcome.failures)} failures in the {name} run:\n"
        + "\n".join(sorted({str(f) for f in outcome.failures}))
        + "\n\nschemathesis' report:\n"
        + text[-20000:]
    )


def test_every_link_names_an_operation_and_its_parameters(tmp_path: Path) -> None:
    """The served links point at real operations and at parameters (or body fields) those
    operations take; schemathesis would only skip a broken one with a warning."""
    from urllib.parse import unquote

    document = create_app(make_settings_offline(tmp_path)).openapi()
    links = [
        (path, method, status, name, link)
        for path, item in document["paths"].items()
        for method, op in item.items()
        for status, response in op["responses"].items()
        for name, link in response.get("links", {}).items()
    ]
    assert len(links) > 50
    for path, method, status, name, link in links:
        pointer, target_method = link["operationRef"].removeprefix("#/paths/").rsplit("/", 1)
        target_path = unquote(pointer).replace("~1", "/").replace("~0", "~")
        target = document["paths"][target_path][target_method]
        params = {f"{p['in']}.{p['name']}" for p in target.get("parameters", [])}
        for where in link.get("parameters", {}):
            assert where in params, f"{method} {path} {status} {name}: no {where}"
        for field_name in link.get("requestBody", {}):
            body = target["requestBody"]["content"]["application/json"]["schema"]
            schema = document["components"]["schemas"][body["$ref"].rsplit("/", 1)[-1]]
            assert field_name in schema["properties"], f"{name}: no body field {field_name}"


def make_settings_offline(tmp: Path) -> Any:
    """Settings enough to build the app and its document (no chain is contacted)."""
    from api.settings import Settings

    return Settings(data_dir=tmp, master_passphrase="not used")
