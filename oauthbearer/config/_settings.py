"""The settings as a broker listener (or a client) sees them, and the checks
that the broker and the client readers share. No public API."""

from __future__ import annotations

import dataclasses
import re
from typing import TYPE_CHECKING, Final

from oauthbearer.config._values import LONG_RANGE, bad_value, parse_int, trim
from oauthbearer.config.jaas import JaasConfig, jaas_file_entry, parse_jaas_config
from oauthbearer.config.names import (
    CHECKED_PREFIXES,
    JAAS_CONFIG,
    KNOWN_PROPERTIES,
    OAUTHBEARER_LOGIN_MODULE,
    SHOWABLE_PROPERTY,
    show_key,
)
from oauthbearer.errors import ArgumentTypeError, ConfigurationError
from oauthbearer.http.retry import RetryPolicy

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping


@dataclasses.dataclass(frozen=True, slots=True)
class Setting:
    key: str  # the property that supplied it, as written
    value: str


class View:
    """The settings as one broker listener (or a client) sees them."""

    def __init__(
        self,
        properties: Mapping[str, str],
        listener: str | None,
        jaas_file: Mapping[str, tuple[JaasConfig, ...]] | None = None,
    ) -> None:
        self._properties = properties
        self.listener = None if listener is None else listener.lower()
        #: The static JAAS file's sections (``java.security.auth.login.config``), if any.
        self.jaas_file = jaas_file
        self._listener_prefix = None if listener is None else f"listener.name.{listener.lower()}."
        self._mechanism_prefix = (
            None if self._listener_prefix is None else self._listener_prefix + "oauthbearer."
        )

    def mechanism_key(self, name: str) -> str:
        return name if self._mechanism_prefix is None else self._mechanism_prefix + name

    def get(self, name: str, *, mechanism_only: bool = False) -> Setting | None:
        """The setting ``name`` by Kafka's lookup order; ``mechanism_only`` for
        the two names a broker reads only with the listener and mechanism prefix."""
        keys = [self.mechanism_key(name)]
        if self._listener_prefix is not None and not mechanism_only:
            keys += [self._listener_prefix + name, name]
        for key in dict.fromkeys(keys):
            value = self._properties.get(key)
            if value is not None:
                return Setting(key, value)
        return None

    def listener_get(self, name: str) -> Setting | None:
        """A setting Kafka reads per listener (``valuesWithPrefixOverride``),
        not per mechanism: ``listener.name.<l>.<name>``, then ``<name>``."""
        keys = [name] if self._listener_prefix is None else [self._listener_prefix + name, name]
        for key in keys:
            value = self._properties.get(key)
            if value is not None:
                return Setting(key, value)
        return None

    def listener_only(self, name: str) -> Setting | None:
        """``listener.name.<l>.<name>`` alone: a setting Kafka honours for the
        listener only when it is given with the listener's prefix."""
        if self._listener_prefix is None:
            return None
        key = self._listener_prefix + name
        value = self._properties.get(key)
        return None if value is None else Setting(key, value)

    def get_exact(self, name: str) -> Setting | None:
        """``<name>`` alone: a setting of the whole broker, never per listener."""
        value = self._properties.get(name)
        return None if value is None else Setting(name, value)

    def listener_keys(self, name_prefix: str) -> list[str]:
        """The keys ``listener.name.<l>.<name_prefix>...`` that are set."""
        if self._listener_prefix is None:
            return []
        prefix = self._listener_prefix + name_prefix
        return sorted(key for key in self._properties if key.startswith(prefix))

    def text(self, name: str) -> Setting | None:
        """A STRING setting, trimmed; blank counts as unset (ConfigurationUtils)."""
        setting = self.get(name)
        if setting is None or not trim(setting.value):
            return None
        return Setting(setting.key, trim(setting.value))


def check_names(properties: Mapping[str, str]) -> None:
    """Refuse unknown ``sasl.oauthbearer.*`` / ``sasl.login.*`` names, with or
    without a listener (and mechanism) prefix."""
    for key in properties:
        if not isinstance(key, str) or not isinstance(properties[key], str):
            raise ArgumentTypeError("properties must map strings to strings")
        name = key
        if name.startswith("listener.name."):
            rest = name[len("listener.name.") :].partition(".")[2]
            name = rest if rest.startswith("sasl.") else rest.partition(".")[2]
        if name.startswith(CHECKED_PREFIXES) and name not in KNOWN_PROPERTIES:
            close = _closest(name)
            hint = f"; did you mean {close}?" if close else ""
            raise ConfigurationError(
                f"{show_key(key, pattern=SHOWABLE_PROPERTY)} is not a Kafka configuration "
                f"name{hint}"
            )


def _closest(name: str) -> str | None:
    import difflib  # noqa: PLC0415 - only on the error path

    matches = difflib.get_close_matches(name, KNOWN_PROPERTIES, n=1, cutoff=0.8)
    return matches[0] if matches else None


def jaas_entry(view: View, *, broker: bool) -> tuple[JaasConfig, str]:
    """The OAUTHBEARER login module entry, and where it came from.

    As Kafka's ``JaasContext``: the ``sasl.jaas.config`` property first (a
    broker reads it only with the listener and mechanism prefix); without it,
    the static JAAS file's section (``KafkaClient``; for a broker
    ``<listener>.KafkaServer``, then ``KafkaServer``).
    """
    setting = view.get(JAAS_CONFIG, mechanism_only=broker)
    if setting is not None:
        jaas, source = parse_jaas_config(setting.value, option=setting.key), setting.key
    elif view.jaas_file is not None:
        names = (
            (f"{view.listener}.KafkaServer", "KafkaServer")
            if broker and view.listener is not None
            else ("KafkaClient",)
        )
        name = next((n for n in names if view.jaas_file.get(n)), names[-1])
        jaas, source = jaas_file_entry(view.jaas_file, name), f"the JAAS file's {name} section"
    else:
        key = view.mechanism_key(JAAS_CONFIG)
        if broker and view.get(JAAS_CONFIG) is not None:
            raise ConfigurationError(
                f"{key} is not set: a broker reads sasl.jaas.config only with the listener "
                "and mechanism prefix, and ignores the one that is set"
            )
        raise ConfigurationError(f"{key} is not set, and no JAAS file was given")
    if jaas.login_module != OAUTHBEARER_LOGIN_MODULE:
        raise ConfigurationError(f"{source}: the login module is not {OAUTHBEARER_LOGIN_MODULE}")
    return jaas, source


def refuse_if_set(view: View, names: tuple[str, ...], reason: str) -> None:
    for name in names:
        setting = view.get(name)
        if setting is not None:
            raise ConfigurationError(f"{setting.key} is set, but {reason}")


def optional_text(view: View, name: str) -> str | None:
    setting = view.text(name)
    return None if setting is None else setting.value


def require_secured_handler(  # noqa: PLR0917 - the facts of one check, in order
    option: str,
    handler_class: str,
    allowed: Collection[str],
    jaas: JaasConfig,
    unsecured_prefix: str,
    role: str,
) -> None:
    """A secured callback handler must be one of Kafka's own, and the JAAS
    options of the unsecured one (which it ignores) must not be set."""
    if handler_class not in allowed:
        raise ConfigurationError(
            f"{option}: only Kafka's own callback handlers can be reproduced here"
        )
    for key in jaas.options:
        if key.startswith(unsecured_prefix):
            raise ConfigurationError(
                f"JAAS option {show_key(key)} is set, but {option} is the secured "
                f"{role}, which ignores it"
            )


def claim_name(view: View, name: str, default: str) -> str:
    return optional_text(view, name) or default


def number_setting(
    view: View, name: str, default: int, java_range: range, type_name: str, *, low: int = 0
) -> int:
    """A whole-number setting, at least ``low`` (every one of these is a duration)."""
    setting = view.get(name)
    if setting is None:
        return default
    value = parse_int(setting.key, setting.value, java_range, type_name)
    if value < low:
        raise bad_value(setting.key, f"a number >= {low}")
    return value


def retry_policy(view: View, backoff_name: str, max_name: str) -> RetryPolicy:
    """Kafka's ``Retry`` from a backoff and a maximum (LONG, ms; defaults 100 and
    10000), with its rules: neither negative, the maximum not below the backoff."""
    backoff_ms = number_setting(view, backoff_name, 100, LONG_RANGE, "long")
    max_ms = number_setting(view, max_name, 10_000, LONG_RANGE, "long")
    if max_ms < backoff_ms:
        raise ConfigurationError(
            f"{view.mechanism_key(max_name)} ({max_ms}) is less than "
            f"{view.mechanism_key(backoff_name)} ({backoff_ms}); Kafka refuses it: "
            f"retryBackoffMaxMs value ({max_ms}) is less than retryBackoffMs value ({backoff_ms})"
        )
    return RetryPolicy(backoff_s=backoff_ms / 1000, budget_s=max_ms / 1000)


# --- The trust store of the OAuth HTTPS calls --------------------------------------------
#
# Kafka's login makes its HTTPS calls with an SSLSocketFactory built from the
# *JAAS options* (JaasOptionsUtils.createSSLSocketFactory: a ConfigDef with
# withClientSslSupport() over the options of sasl.jaas.config), not from the
# client's own ssl.* properties, which are for the connection to the broker.
# Kafka's default ssl.truststore.type is JKS; only its PEM forms are read here.

TRUSTSTORE_TYPE: Final = "ssl.truststore.type"
TRUSTSTORE_LOCATION: Final = "ssl.truststore.location"
TRUSTSTORE_CERTIFICATES: Final = "ssl.truststore.certificates"
TRUSTSTORE_PASSWORD: Final = "ssl.truststore.password"
_TRUSTSTORE_NAMES: Final = (
    TRUSTSTORE_TYPE,
    TRUSTSTORE_LOCATION,
    TRUSTSTORE_CERTIFICATES,
    TRUSTSTORE_PASSWORD,
)
#: A PEM certificate block; Kafka's PEM reader drops whitespace inside the
#: base64, so a block may stand on one line (as in a ``.properties`` file).
_PEM_CERTIFICATE: Final = re.compile(
    r"-----BEGIN CERTIFICATE-----(?P<body>[A-Za-z0-9+/=\s]*?)-----END CERTIFICATE-----"
)
_PEM_LINE: Final = 64


def pem_certificates(text: str, *, option: str) -> str:
    """The PEM certificate blocks of ``text`` (one per line, or with Kafka's
    one-line PEM), as standard PEM with 64-character lines; refuses text that
    holds none, or anything but certificates. The message never shows the text."""
    blocks = []
    rest = text
    for match in _PEM_CERTIFICATE.finditer(text):
        body = "".join(match["body"].split())
        if not body:
            raise ConfigurationError(f"{option}: a certificate block is empty")
        lines = [body[i : i + _PEM_LINE] for i in range(0, len(body), _PEM_LINE)]
        blocks.append(
            "\n".join(["-----BEGIN CERTIFICATE-----", *lines, "-----END CERTIFICATE-----"])
        )
        rest = rest.replace(match[0], "", 1)
    if not blocks:
        raise ConfigurationError(f"{option} holds no PEM certificate (-----BEGIN CERTIFICATE-----)")
    if rest.strip():
        raise ConfigurationError(f"{option} holds something besides PEM certificates")
    return "\n".join(blocks) + "\n"


def pem_truststore(settings: Mapping[str, str], *, where: str) -> tuple[str | None, str | None]:
    """``(ca_file, ca_certificates)`` from Kafka's trust store settings in
    ``settings`` (``where`` names them in messages: "JAAS option", "property"):
    ``ssl.truststore.type=PEM`` with ``ssl.truststore.location`` (a PEM file,
    not read here) or ``ssl.truststore.certificates`` (PEM text). A JKS or
    PKCS12 store, Kafka's default type among them, is refused with a message
    that says how to convert it; so are a password (Kafka refuses one for PEM)
    and both forms at once (Kafka refuses that too)."""
    location = settings.get(TRUSTSTORE_LOCATION)
    certificates = settings.get(TRUSTSTORE_CERTIFICATES)
    if location is None and certificates is None:
        return None, None
    store_type = trim(settings.get(TRUSTSTORE_TYPE) or "JKS")
    named = TRUSTSTORE_LOCATION if location is not None else TRUSTSTORE_CERTIFICATES
    if store_type != "PEM":
        default = "" if TRUSTSTORE_TYPE in settings else ", Kafka's default"
        raise ConfigurationError(
            f"{where} {named} is set with {TRUSTSTORE_TYPE} {store_type}{default}: only "
            f"PEM trust stores are read here. Set {TRUSTSTORE_TYPE}=PEM and point "
            f"{TRUSTSTORE_LOCATION} at the CA certificates in PEM (from a JKS or PKCS12 "
            "store: keytool -exportcert -rfc -alias <ca> -keystore <store>)"
        )
    if TRUSTSTORE_PASSWORD in settings:
        raise ConfigurationError(
            f"{where} {TRUSTSTORE_PASSWORD} is set, and Kafka refuses a password for a PEM "
            "trust store"
        )
    if location is not None and certificates is not None:
        raise ConfigurationError(
            f"{where} {TRUSTSTORE_LOCATION} and {TRUSTSTORE_CERTIFICATES} are both set; "
            "Kafka refuses that: give one"
        )
    if location is not None:
        if not trim(location):
            raise ConfigurationError(f"{where} {TRUSTSTORE_LOCATION} is set but blank")
        return trim(location), None
    assert certificates is not None
    return None, pem_certificates(certificates, option=f"{where} {TRUSTSTORE_CERTIFICATES}")


def jaas_truststore(jaas: JaasConfig) -> tuple[str | None, str | None]:
    """The trust store of the login's HTTPS calls, from its JAAS options; any
    other ``ssl.*`` JAAS option (a client certificate, protocols, host name
    checking) is refused, since it would be silently ignored here."""
    for key in jaas.options:
        if key.startswith("ssl.") and key not in _TRUSTSTORE_NAMES:
            raise ConfigurationError(
                f"JAAS option '{key}' is not read here: for the token endpoint's TLS, only "
                f"a PEM trust store ({TRUSTSTORE_TYPE}=PEM with {TRUSTSTORE_LOCATION} or "
                f"{TRUSTSTORE_CERTIFICATES}) is"
            )
    return pem_truststore(jaas.options, where="JAAS option")
