"""JAAS configuration text, judged by Kafka itself: ``parse_jaas_config`` against
Kafka's ``JaasContext``/``JaasConfig`` and ``parse_jaas_file`` against the JDK's
login configuration file parser, over one corpus, in one JVM run per Kafka version.

Rerun against a pinned version: ``OAUTHBEARER_KAFKA_VERSION=4.0.2 python -m pytest
tests/test_jaas_parity.py -q``.

Deliberate differences, each asserted below rather than skipped:

* Kafka accepts an option whose name is a number or a punctuation mark (``5=x``,
  ``+=x``) and stores it under a ``null`` key that nothing can read; we refuse it
  ("Option name not specified in JAAS config").
* A key that follows the value of a secret option (``clientSecret=abc def;`` makes
  ``def`` a key) may be the rest of the secret: Kafka's message quotes it, ours
  hides it. A key or control flag that does not print is not quoted either.
* Kafka raises a message-less ``IllegalArgumentException`` for an empty login
  module name; we say "Login module not specified in JAAS config".
* Kafka 4.0 words its refusal of the JNDI and LDAP login modules differently; we
  give 4.1+'s words (the verdict is the same).
* The JDK files a section named by a number under a ``null`` name, which nothing
  can ask for; we refuse it ("expected [section name]").
* The JDK's parser reports file errors as "Configuration Error: Line N: ..."; the
  file form is compared on its verdict and entries, not on the text.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from oauthbearer.config import JaasConfigError, is_secret_key, parse_jaas_config, parse_jaas_file
from tests.real_kafka import java_program, selected_version

if TYPE_CHECKING:
    from tests.real_kafka import JavaProgram

pytestmark = pytest.mark.kafka_differential

SOURCE = Path(__file__).parent / "interop" / "kafka" / "JaasParity.java"
M = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule"

#: Values as a user might write them after ``key=``.
VALUES = (
    "abc",
    "0oa1b2c3",
    "123",
    "-5",
    "1.5",
    "1e5",
    "0x1F",
    ".5",
    "5.",
    "-",
    "-x",
    "--5",
    "a.b",
    "a-b",
    "a_b",
    "$x",
    "x$",
    "abc+def",
    "a:b",
    "a@b",
    "a~b",
    "a/b",
    "a=b",
    "a;b",
    "é",
    "日本",
    "\u0085x",
    "x\u0085",
    "https://idp/jwks",
    "a b",
    "a,b",
    "a#b",
    "a!b",
    "*a",
    "a*",
    "\\x",
    "a\\b",
    "_",
    "$",
    '"abc"',
    '"a b"',
    '"0oa1"',
    "'single'",
    '"x\\"y"',
    '"x\\\\y"',
    '"x\\ny"',
    '"\\101\\7"',
    '"\\477"',
    '"open',
    "'open",
    '""',
    '"a\nb"',
    '"tab\\tz"',
    '"\\q"',
    '"a\\\nb"',
    '"é"',
)
#: Keys as a user might write them before ``=``.
KEYS = (
    "k",
    "clientId",
    "a.b",
    "a-b",
    "_k",
    "$k",
    "k1",
    "1k",
    "-k",
    ".k",
    "+k",
    '"q k"',
    "'sq'",
    "é",
    "k:x",
    "clientSecret",
)

_HAND = (
    "",
    "   ",
    "/* only a comment */",
    "// only a comment",
    "# hash",
    f"{M} required;",
    f"{M} Required;",
    f"{M} REQUIRED;",
    f"{M} requisite;",
    f"{M} Sufficient;",
    f"{M} OPTIONAL;",
    f"{M} bogus;",
    f"{M} 5;",
    f"{M} ;",
    f"{M}",
    f"{M} required",
    f"{M} required a=b",
    f"{M} required a b;",
    f"{M} required a=;",
    f"{M} required a=",
    f"{M} required =b;",
    f"{M} required a==b;",
    f"{M} required a=b c=d;",
    f"{M} required a=b; {M} required;",
    f"{M} required; x",
    f"{M} required a=b;;",
    f"{M} required a=b k=v a=c;",
    f'{M} required clientId="x" clientSecret="y" scope="a b";',
    f"{M} required clientId=0oa1b2c3 clientSecret=s;",
    f"{M} required clientSecret=abc+def;",
    f"{M} required clientSecret=abc def;",
    f"{M} required clientSecret=abc def=g;",
    f"{M} required password=x y;",
    f"{M} required unsecuredLoginStringClaim_sub=alice unsecuredLoginLifetimeSeconds=600;",
    f'{M} required unsecuredLoginLifetimeSeconds="600";',
    f"{M} required /* c */ a=b // rest\n c=d;",
    f"{M} required a=b/x c=d\n e=f;",
    f"{M} required a=b/\nc=d\ne=f;",
    f"{M} required a=b /* unclosed",
    f"{M} required a=b /**/ c=d;",
    f"{M} required a=b /* *\n/ c=d */ e=f;",
    f"{M} required a=b # c=d;",
    f'"{M}" "Optional" "k"="v" k2=v2 "k"=w;',
    f"'{M}' 'required' 'k'='v';",
    '"" required;',
    "5 required;",
    "+ required;",
    "- required;",
    "-M required;",
    "M.x required;",
    "1M required;",
    f"\t {M}  required ;  // trailing comment",
    f"\n\n{M}\nrequired\na=b\n;\n",
    f"\r\n{M}\r\nrequired\r\na=b\r\n;",
    f"{M}\u00a0required;",
    f"{M} required\u0085;",
    f"{M} required a=b\u3000;",
    f"{M} required 日本=語;",
    f"{M} required a=\U0001f600;",
    "com.sun.security.auth.module.JndiLoginModule required;",
    "com.sun.security.auth.module.LdapLoginModule required;",
    '" com.sun.security.auth.module.JndiLoginModule " required;',
    "com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true;",
    f'{M} required a="x\\ty\\101\\"q\\\\";',
    f'{M} required a="\\377\\477";',
    f"{M} required a='single \\'quoted\\'';",
    f"{M} required a=b\\c;",
    f'{M} required a="open\n;',
    f'{M} required a="x\\',
    f'{M} required "a\nb"=c;',
    f'{M} required a=b "c\\u0001"=d;',
    f'{M} "req\\u0001";',
    f'{M} required a="b" ;',
    f"{M} required a = b ;",
    f"{M} required\ta\t=\tb\t;",
    f"{M} required a=b;\n// the end",
    f"{M} required a=b;/* the end */",
    f"{M} required a=-.5;",
    f"{M} required a=-.;",
    f"{M} required a=.;",
    f"{M} required a=1.2.3;",
    f"{M} required 5=v;",
    f"{M} required +=v;",
    f"{M} required .=v a=b;",
    f"{M} required extension_traceId=abc extension_x=0x1;",
)


def _generated() -> list[str]:
    cases = [f"{M} required {key}={value};" for key in KEYS[:3] for value in VALUES]
    cases += [f"{M} required {key}=v;" for key in KEYS]
    cases += [f"{M} required k={value}" for value in VALUES[:12]]  # no ';'
    cases += [
        f"{M} {flag} a={value};"
        for flag, value in itertools.product(("required", "OPTIONAL", "Requisite"), VALUES[:6])
    ]
    return cases


STRING_CASES = tuple(dict.fromkeys((*_HAND, *_generated())))

#: JAAS files; the first line names the sections the JDK is asked for.
FILE_CASES = (
    (
        "//sections: KafkaClient\nKafkaClient { "
        f'{M} Required unsecuredLoginStringClaim_sub="thePrincipalName"; }};\n'
    ),
    (
        f'//sections: KafkaClient KafkaServer\nKafkaClient {{ {M} required a="1"; }};\n'
        f'KafkaServer {{ {M} required\n  b="x"\n  c="y";\n}};\n'
    ),
    f'//sections: KafkaClient\n/* c */ KafkaClient {{ // c\n {M} required a="b"; }};',
    f"//sections: KafkaClient\nKafkaClient {{ {M} required a=b; }};",
    f"//sections: KafkaClient\nKafkaClient {{ {M} required a=0oa1; }};",
    f"//sections: KafkaClient\nKafkaClient {{ {M} required a='b'; }};",
    f'//sections: KafkaClient\nKafkaClient {{ {M} required a="b" }};',
    f'//sections: KafkaClient\nKafkaClient {{ {M} required a="b"; }}',
    f'//sections: KafkaClient\nKafkaClient {{ {M} required a="b"; ',
    f"//sections: KafkaClient\nKafkaClient {{ {M} bogus; }};",
    f"//sections: KafkaClient\nKafkaClient {{ {M} OPTIONAL; }};",
    f'//sections: KafkaClient\nKafkaClient {{ {M} required; {M} sufficient x="y"; }};',
    "//sections: KafkaClient\nKafkaClient { };",
    "//sections: KafkaClient\nKafkaClient { } ;\nKafkaClient { };",
    "//sections: KafkaClient\n",
    "//sections: KafkaClient\nKafkaClient",
    f"//sections: KafkaClient\nKafkaClient {M} required;",
    f"//sections: KafkaClient\nKafkaClient {{ {M} required a; }};",
    f"//sections: KafkaClient\nKafkaClient {{ {M} required a=; }};",
    f'//sections: KafkaClient\nKafkaClient {{ {M} required ="b"; }};',
    f'//sections: KafkaClient\nKafkaClient {{ {M} required a="b" a="c"; }};',
    f'//sections: KafkaClient\nKafkaClient {{ "{M}" "required" "a"="b"; }};',
    f'//sections: KafkaClient\nKafkaClient {{ {M} required a="x\\"y\\\\z"; }};',
    f'//sections: KafkaClient\nKafkaClient {{ {M} required a="x\ny"; }};',
    f'//sections: KafkaClient\nKafkaClient {{ {M} required a.b-c_d$e*f="v"; }};',
    f'//sections: KafkaClient\nKafkaClient {{ {M} required a:b="v"; }};',
    f'//sections: KafkaClient\nKafkaClient {{ {M} required # c\n a="v"; }};',
    f"//sections: KafkaClient other\nother {{ {M} required; }};",
    f"//sections: sasl_ssl.KafkaServer\nsasl_ssl.KafkaServer {{ {M} required; }};",
    f"//sections: Kafka-Client\nKafka-Client {{ {M} required; }};",
    f'//sections: KafkaClient\n"KafkaClient" {{ {M} required; }};',
    f"//sections: KafkaClient\n5 {{ {M} required; }};",
    f"//sections: KafkaClient\nKafkaClient {{ {M} required; }}; x",
    "//sections: KafkaClient\nKafkaClient { 5 required; };",
    f'//sections: KafkaClient\nKafkaClient {{ {M} required a="é" 日本="語"; }};',
    f'//sections: KafkaClient\nKafkaClient {{\r\n {M}\r\n required\r\n a="b";\r\n}};\r\n',
    f'//sections: KafkaClient\nKafkaClient {{ {M} required a="b"; }};;',
    f'//sections: KafkaClient\nKafkaClient {{ {M} required a="b";; }};',
    f'//sections: KafkaClient\nKafkaClient {{ {M} required, a="b"; }};',
    f'//sections: KafkaClient\nKafkaClient {{ {M} required a="b", c="d"; }};',
)


def _hex(text: str) -> str:
    return text.encode("utf-8").hex()


def _text(field: str) -> str | None:
    return None if field == "-" else "" if field == "=" else bytes.fromhex(field).decode()


def _parse_ok(fields: list[str]) -> dict[str | None, object]:
    """``OK`` lines: sections -> entries -> (module, flag, options)."""
    sections: dict[str | None, object] = {}
    pos = 1
    for _ in range(int(fields[0])):
        name, count = _text(fields[pos]), int(fields[pos + 1])
        pos += 2
        if count < 0:
            sections[name] = None
            continue
        entries = []
        for _ in range(count):
            module, flag, n = _text(fields[pos]), fields[pos + 1], int(fields[pos + 2])
            pos += 3
            options = {}
            for _ in range(n):
                options[_text(fields[pos])] = _text(fields[pos + 1])
                pos += 2
            entries.append((module, flag, options))
        sections[name] = entries
    return sections


@pytest.fixture(scope="module")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, list[str]]:
    version = selected_version()
    program: JavaProgram = java_program(SOURCE, version, tmp_path_factory.mktemp("jaas"))
    lines = [f"S {_hex(case)}" for case in STRING_CASES]
    lines += [f"F {_hex(case)}" for case in FILE_CASES]
    done = program.run(stdin="\n".join(lines) + "\n", timeout_s=300)
    assert done.returncode == 0, done.stderr
    answers = done.stdout.splitlines()
    assert len(answers) == len(lines), done.stderr
    return version, answers


def test_the_corpus_is_large() -> None:
    assert len(STRING_CASES) >= 200
    assert len(FILE_CASES) >= 30


def _expected_deviation(text: str, kafka_message: str | None, ours: JaasConfigError) -> bool:
    """One of the deliberate differences listed in the module docstring."""
    mine = ours.kafka_message
    if kafka_message is None:
        return mine == "Login module not specified in JAAS config"
    if kafka_message.startswith("Value not specified for key '") and (
        mine.startswith(
            ("Value not specified for key '(hidden", "Value not specified for key '(a word")
        )
    ):
        return True
    if kafka_message.startswith("Invalid login module control flag '") and "(a word" in mine:
        return True
    return " is not allowed. Update System property" in kafka_message and " is not allowed." in mine


def test_sasl_jaas_config_matches_kafka(kafka: tuple[str, list[str]]) -> None:
    version, answers = kafka
    disagreements: list[tuple[str, object, object]] = []
    for text, answer in zip(STRING_CASES, answers, strict=False):
        kind, *fields = answer.split(" ")
        try:
            ours = parse_jaas_config(text)
        except JaasConfigError as error:
            if kind == "OK":
                ((_, entries),) = _parse_ok(fields).items()
                assert isinstance(entries, list)
                null_key = any(None in options for _, _, options in entries)
                if null_key and error.kafka_message == "Option name not specified in JAAS config":
                    continue  # deliberate: Kafka keeps a value under a null key
                disagreements.append((text, "Kafka accepts", str(error)))
                continue
            message = _text(fields[1])
            if error.kafka_message != message and not _expected_deviation(text, message, error):
                disagreements.append((text, message, error.kafka_message))
            continue
        if kind != "OK":
            disagreements.append((text, _text(fields[1]), "we accept"))
            continue
        ((_, entries),) = _parse_ok(fields).items()
        got = [(ours.login_module, ours.control_flag, dict(ours.options))]
        if got != entries:
            disagreements.append((text, entries, got))
    assert disagreements == [], f"Kafka {version}: {len(disagreements)} disagreements"


def test_messages_never_quote_a_secret_value() -> None:
    for text in STRING_CASES:
        if "clientSecret=" not in text and "password=" not in text:
            continue
        try:
            jaas = parse_jaas_config(text)
        except JaasConfigError as error:
            secret = text.split("Secret=" if "Secret=" in text else "password=")[1]
            for part in secret.replace("=", " ").replace("+", " ").rstrip(";").split():
                if len(part) > 1:
                    assert part not in str(error), (text, str(error))
        else:
            assert all("<hidden>" in repr(jaas) for key in jaas.options if is_secret_key(key))


def test_jaas_file_matches_the_jdk(kafka: tuple[str, list[str]]) -> None:
    _version, answers = kafka
    disagreements: list[tuple[str, object, object]] = []
    for text, answer in zip(FILE_CASES, answers[len(STRING_CASES) :], strict=True):
        kind, *fields = answer.split(" ")
        names = text.split("\n", 1)[0].removeprefix("//sections:").split()
        try:
            sections = parse_jaas_file(text)
        except JaasConfigError as error:
            if kind == "OK" and "expected [section name]" not in error.kafka_message:
                disagreements.append((text, "the JDK accepts", str(error)))
            continue
        if kind != "OK":
            disagreements.append((text, _text(fields[1]), "we accept"))
            continue
        expected = _parse_ok(fields)
        got: dict[str | None, object] = {}
        for name in names:
            found = sections.get(name) or None  # the JDK: an empty section is absent
            got[name] = (
                None
                if found is None
                else [(e.login_module, e.control_flag, dict(e.options)) for e in found]
            )
        if got != expected:
            disagreements.append((text, expected, got))
    assert disagreements == [], "\n".join(map(repr, disagreements))
