"""Published OAuth 1.0a test vectors, each labelled with its source.

RFC 5849: https://www.rfc-editor.org/rfc/rfc5849
OAuth Core 1.0 (the community specification RFC 5849 replaced):
https://oauth.net/core/1.0/
Twitter developer documentation, "Creating a signature":
https://developer.twitter.com/en/docs/authentication/oauth-1-0a/creating-a-signature

Values are copied from the source. A value the source does not print (some
signature base strings) was derived by hand from RFC 5849 §3.4.1.1 and is
confirmed by reproducing the published signature outside this project with

    printf %s "$BASE_STRING" | openssl dgst -sha1 -hmac "$KEY" -binary | base64

Never paste output of the code under test here.

Not a vector: the "oauth_signature" that RFC 5849 §3.1 (and §3.4.1.1) print
for the example.com request, "bYT5CMsGcbgUdFHObYMEfcx6bsw=", is wrong; the
verified erratum EID 2550 corrects it. The corrected value below was
recomputed with the openssl line above from the base string §3.4.1.1 prints.
Likewise §3.4.1.3.1 prints the placeholder "djosJKDKJSD8743243/jdk33klY=".
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class SignedExample:
    """One published request, its credentials, and what signing it must give."""

    name: str  # an ASCII test id
    source: str
    method: str
    url: str
    content_type: str | None = None
    body: bytes = b""
    realm: str | None = None
    consumer_key: str
    consumer_secret: str
    token: str | None
    token_secret: str
    signature_method: str = "HMAC-SHA1"
    nonce: str
    timestamp: str
    # The protocol parameters exactly as the source sends them, without
    # oauth_signature and without realm.
    oauth_params: tuple[tuple[str, str], ...]
    base_string: str
    signature: str

    @property
    def has_oauth_version(self) -> bool:
        return ("oauth_version", "1.0") in self.oauth_params


# RFC 5849 §1.2: the client credentials and the two later sets of credentials
# of the photos.example.net walk-through. All three requests use HMAC-SHA1.
RFC5849_1_2_CLIENT_KEY = "dpf43f3p2l4k3l03"
RFC5849_1_2_CLIENT_SECRET = "kd94hf93k423kf44"

# RFC 5849 §1.2, the temporary credentials request. The base string is not
# printed in the RFC (derived by hand; the openssl line reproduces the
# signature with the key "kd94hf93k423kf44&").
RFC5849_1_2_TEMPORARY_CREDENTIALS_REQUEST = SignedExample(
    name="rfc5849-1.2-temporary-credentials",
    source="RFC 5849 §1.2 temporary credentials request",
    method="POST",
    url="https://photos.example.net/initiate",
    realm="Photos",
    consumer_key=RFC5849_1_2_CLIENT_KEY,
    consumer_secret=RFC5849_1_2_CLIENT_SECRET,
    token=None,
    token_secret="",
    nonce="wIjqoS",
    timestamp="137131200",
    oauth_params=(
        ("oauth_consumer_key", "dpf43f3p2l4k3l03"),
        ("oauth_signature_method", "HMAC-SHA1"),
        ("oauth_timestamp", "137131200"),
        ("oauth_nonce", "wIjqoS"),
        ("oauth_callback", "http://printer.example.com/ready"),
    ),
    base_string=(
        "POST&https%3A%2F%2Fphotos.example.net%2Finitiate&oauth_callback%3Dhttp%253A%252F%252F"
        "printer.example.com%252Fready%26oauth_consumer_key%3Ddpf43f3p2l4k3l03%26oauth_nonce%3D"
        "wIjqoS%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D137131200"
    ),
    signature="74KNZJeDHnMBp0EMJ9ZHt/XKycU=",
)

# RFC 5849 §1.2, the token request, signed with the temporary credentials
# (hh5s93j4hdidpola / hdhd0244k9j7ao03). Base string derived by hand.
RFC5849_1_2_TOKEN_REQUEST = SignedExample(
    name="rfc5849-1.2-token",
    source="RFC 5849 §1.2 token request",
    method="POST",
    url="https://photos.example.net/token",
    realm="Photos",
    consumer_key=RFC5849_1_2_CLIENT_KEY,
    consumer_secret=RFC5849_1_2_CLIENT_SECRET,
    token="hh5s93j4hdidpola",
    token_secret="hdhd0244k9j7ao03",
    nonce="walatlh",
    timestamp="137131201",
    oauth_params=(
        ("oauth_consumer_key", "dpf43f3p2l4k3l03"),
        ("oauth_token", "hh5s93j4hdidpola"),
        ("oauth_signature_method", "HMAC-SHA1"),
        ("oauth_timestamp", "137131201"),
        ("oauth_nonce", "walatlh"),
        ("oauth_verifier", "hfdp7dh39dks9884"),
    ),
    base_string=(
        "POST&https%3A%2F%2Fphotos.example.net%2Ftoken&oauth_consumer_key%3Ddpf43f3p2l4k3l03%26"
        "oauth_nonce%3Dwalatlh%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D137131201%26"
        "oauth_token%3Dhh5s93j4hdidpola%26oauth_verifier%3Dhfdp7dh39dks9884"
    ),
    signature="gKgrFCywp7rO0OXSjdot/IHF7IU=",
)

# RFC 5849 §1.2, the protected resource request, signed with the token
# credentials (nnch734d00sl2jdk / pfkkdhi9sl3r4s00), key
# "kd94hf93k423kf44&pfkkdhi9sl3r4s00". No oauth_version. Base string derived
# by hand.
RFC5849_1_2_PHOTOS_REQUEST = SignedExample(
    name="rfc5849-1.2-photos",
    source="RFC 5849 §1.2 photos request",
    method="GET",
    url="http://photos.example.net/photos?file=vacation.jpg&size=original",
    realm="Photos",
    consumer_key=RFC5849_1_2_CLIENT_KEY,
    consumer_secret=RFC5849_1_2_CLIENT_SECRET,
    token="nnch734d00sl2jdk",
    token_secret="pfkkdhi9sl3r4s00",
    nonce="chapoH",
    timestamp="137131202",
    oauth_params=(
        ("oauth_consumer_key", "dpf43f3p2l4k3l03"),
        ("oauth_token", "nnch734d00sl2jdk"),
        ("oauth_signature_method", "HMAC-SHA1"),
        ("oauth_timestamp", "137131202"),
        ("oauth_nonce", "chapoH"),
    ),
    base_string=(
        "GET&http%3A%2F%2Fphotos.example.net%2Fphotos&file%3Dvacation.jpg%26oauth_consumer_key%3D"
        "dpf43f3p2l4k3l03%26oauth_nonce%3DchapoH%26oauth_signature_method%3DHMAC-SHA1%26"
        "oauth_timestamp%3D137131202%26oauth_token%3Dnnch734d00sl2jdk%26size%3Doriginal"
    ),
    signature="MdpQcU8iPSUjWoN/UDMsK2sui9I=",
)

# OAuth Core 1.0 Appendix A.5 (A.5.1 base string, A.5.2 signature): the same
# photos request as the older specification signs it, with oauth_version,
# nonce kllo9940pd9333jh and timestamp 1191242096; same key as above. This,
# not RFC 5849 §1.2, is where "tR3+Ty81lMeYAr/Fid0kMTYa/WM=" comes from.
OAUTH_CORE_1_0_A_5_PHOTOS_REQUEST = SignedExample(
    name="oauth-core-1.0-A.5-photos",
    source="OAuth Core 1.0 Appendix A.5 photos request",
    method="GET",
    url="http://photos.example.net/photos?file=vacation.jpg&size=original",
    consumer_key=RFC5849_1_2_CLIENT_KEY,
    consumer_secret=RFC5849_1_2_CLIENT_SECRET,
    token="nnch734d00sl2jdk",
    token_secret="pfkkdhi9sl3r4s00",
    nonce="kllo9940pd9333jh",
    timestamp="1191242096",
    oauth_params=(
        ("oauth_consumer_key", "dpf43f3p2l4k3l03"),
        ("oauth_token", "nnch734d00sl2jdk"),
        ("oauth_signature_method", "HMAC-SHA1"),
        ("oauth_timestamp", "1191242096"),
        ("oauth_nonce", "kllo9940pd9333jh"),
        ("oauth_version", "1.0"),
    ),
    base_string=(
        "GET&http%3A%2F%2Fphotos.example.net%2Fphotos&file%3Dvacation.jpg%26oauth_consumer_key%3D"
        "dpf43f3p2l4k3l03%26oauth_nonce%3Dkllo9940pd9333jh%26oauth_signature_method%3DHMAC-SHA1%26"
        "oauth_timestamp%3D1191242096%26oauth_token%3Dnnch734d00sl2jdk%26oauth_version%3D1.0%26"
        "size%3Doriginal"
    ),
    signature="tR3+Ty81lMeYAr/Fid0kMTYa/WM=",
)

# Twitter developer documentation, "Creating a signature": POST with a query
# parameter and a form body. The body is copied as the page prints it, with
# lower-case hex digits (%2b, %2c).
TWITTER_CREATING_A_SIGNATURE = SignedExample(
    name="twitter-creating-a-signature",
    source="Twitter developer docs, Creating a signature",
    method="POST",
    url="https://api.twitter.com/1.1/statuses/update.json?include_entities=true",
    content_type="application/x-www-form-urlencoded",
    body=b"status=Hello%20Ladies%20%2b%20Gentlemen%2c%20a%20signed%20OAuth%20request%21",
    consumer_key="xvz1evFS4wEEPTGEFPHBog",
    consumer_secret="kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw",
    token="370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb",
    token_secret="LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE",
    nonce="kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg",
    timestamp="1318622958",
    oauth_params=(
        ("oauth_consumer_key", "xvz1evFS4wEEPTGEFPHBog"),
        ("oauth_nonce", "kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg"),
        ("oauth_signature_method", "HMAC-SHA1"),
        ("oauth_timestamp", "1318622958"),
        ("oauth_token", "370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb"),
        ("oauth_version", "1.0"),
    ),
    base_string=(
        "POST&https%3A%2F%2Fapi.twitter.com%2F1.1%2Fstatuses%2Fupdate.json&include_entities%3Dtrue%26"
        "oauth_consumer_key%3Dxvz1evFS4wEEPTGEFPHBog%26oauth_nonce%3D"
        "kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg%26oauth_signature_method%3DHMAC-SHA1%26"
        "oauth_timestamp%3D1318622958%26oauth_token%3D"
        "370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb%26oauth_version%3D1.0%26status%3D"
        "Hello%2520Ladies%2520%252B%2520Gentlemen%252C%2520a%2520signed%2520OAuth%2520request%2521"
    ),
    signature="hCtSmYh+iHYCEqBWrE7C7hYmtUk=",
)

# RFC 5849 §3.4.1.1: the example.com request (also §3.1, §3.4.1.3.1). The base
# string is printed in §3.4.1.1. Secrets from §3.1: client "j49sk3j29djd",
# token "dh893hdasih9". Signature: erratum EID 2550's value (see the module
# docstring), not the printed one.
RFC5849_3_4_1_1_REQUEST = SignedExample(
    name="rfc5849-3.4.1.1-example.com",
    source="RFC 5849 §3.4.1.1 example.com request (signature per erratum EID 2550)",
    method="POST",
    url="http://example.com/request?b5=%3D%253D&a3=a&c%40=&a2=r%20b",
    content_type="application/x-www-form-urlencoded",
    body=b"c2&a3=2+q",
    realm="Example",
    consumer_key="9djdj82h48djs9d2",
    consumer_secret="j49sk3j29djd",
    token="kkk9d7dh3k39sjv7",
    token_secret="dh893hdasih9",
    nonce="7d8f3e4a",
    timestamp="137131201",
    oauth_params=(
        ("oauth_consumer_key", "9djdj82h48djs9d2"),
        ("oauth_token", "kkk9d7dh3k39sjv7"),
        ("oauth_signature_method", "HMAC-SHA1"),
        ("oauth_timestamp", "137131201"),
        ("oauth_nonce", "7d8f3e4a"),
    ),
    base_string=(
        "POST&http%3A%2F%2Fexample.com%2Frequest&a2%3Dr%2520b%26a3%3D2%2520q%26a3%3Da%26b5%3D%253D"
        "%25253D%26c%2540%3D%26c2%3D%26oauth_consumer_key%3D9djdj82h48djs9d2%26oauth_nonce%3D7d8f3e4a"
        "%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D137131201%26oauth_token%3D"
        "kkk9d7dh3k39sjv7"
    ),
    signature="r6/TJjbCOr97/+UU0NsvSne7s5g=",
)

# RFC 5849 §3.4.1.3.1: the "(fully decoded) parameters" table for the request
# above, in the table's order.
RFC5849_3_4_1_3_1_PARAMETERS: tuple[tuple[bytes, bytes], ...] = (
    (b"b5", b"=%3D"),
    (b"a3", b"a"),
    (b"c@", b""),
    (b"a2", b"r b"),
    (b"oauth_consumer_key", b"9djdj82h48djs9d2"),
    (b"oauth_token", b"kkk9d7dh3k39sjv7"),
    (b"oauth_signature_method", b"HMAC-SHA1"),
    (b"oauth_timestamp", b"137131201"),
    (b"oauth_nonce", b"7d8f3e4a"),
    (b"c2", b""),
    (b"a3", b"2 q"),
)

# RFC 5849 §3.4.1.3.2: the same parameters normalized (the "concatenated
# together into a single string" example, line breaks removed).
RFC5849_3_4_1_3_2_NORMALIZED = (
    "a2=r%20b&a3=2%20q&a3=a&b5=%3D%253D&c%40=&c2=&oauth_consumer_key=9djdj82h48djs9d2"
    "&oauth_nonce=7d8f3e4a&oauth_signature_method=HMAC-SHA1&oauth_timestamp=137131201"
    "&oauth_token=kkk9d7dh3k39sjv7"
)

# RFC 5849 §3.4.1.2: request line plus Host header, written as the absolute
# URL, and the base string URI the RFC gives for each.
RFC5849_3_4_1_2_BASE_STRING_URIS: tuple[tuple[str, str], ...] = (
    ("http://EXAMPLE.COM:80/r%20v/X?id=123", "http://example.com/r%20v/X"),
    ("https://www.example.net:8080/?q=1", "https://www.example.net:8080/"),
)

# RFC 5849 §2.1: a PLAINTEXT temporary credentials request,
# oauth_signature="ja893SD9%26" in the header: the client shared-secret
# "ja893SD9", then "&", then the empty token secret (§3.4.4).
RFC5849_2_1_PLAINTEXT_CONSUMER_KEY = "jd83jd92dhsh93js"
RFC5849_2_1_PLAINTEXT_CLIENT_SECRET = "ja893SD9"
RFC5849_2_1_PLAINTEXT_CALLBACK = "http://client.example.net/cb?x=1"
RFC5849_2_1_PLAINTEXT_HEADER_SIGNATURE = 'oauth_signature="ja893SD9%26"'
RFC5849_2_1_PLAINTEXT_HEADER_CALLBACK = 'oauth_callback="http%3A%2F%2Fclient.example.net%2Fcb%3Fx%3D1"'

# OAuth Request Body Hash (draft-eaton-oauth-bodyhash-00): the oauth_body_hash
# of an empty body with SHA-1, the well-known constant, computed with
#     printf '' | openssl dgst -sha1 -binary | base64
EMPTY_BODY_SHA1 = "2jmj7l5rSw0yVb/vlWAYkK/YBwk="

ALL_SIGNED_EXAMPLES: tuple[SignedExample, ...] = (
    RFC5849_1_2_TEMPORARY_CREDENTIALS_REQUEST,
    RFC5849_1_2_TOKEN_REQUEST,
    RFC5849_1_2_PHOTOS_REQUEST,
    OAUTH_CORE_1_0_A_5_PHOTOS_REQUEST,
    TWITTER_CREATING_A_SIGNATURE,
    RFC5849_3_4_1_1_REQUEST,
)
