"""Real signed PDFs for tests: a throwaway self-signed certificate (cryptography), signed with pyHanko.

    signer = PdfSigner.throwaway("GMO Sign test CA")
    pdf = signer.sign(blank_pdf(), times=2)      # two signatures, as two signers would leave
    signer.certificate                           # the trust root to configure, if wanted
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.writer import PdfFileWriter
from pyhanko.sign import signers


def blank_pdf(text: str = "") -> bytes:
    """A one-page PDF (A4) with nothing on it; ``text`` goes into a comment to tell files apart."""
    writer = PdfFileWriter()
    writer.insert_page(generic.DictionaryObject({
        generic.NameObject("/Type"): generic.NameObject("/Page"),
        generic.NameObject("/MediaBox"): generic.ArrayObject([generic.NumberObject(n) for n in (0, 0, 595, 842)]),
        generic.NameObject("/Resources"): generic.DictionaryObject(),
    }))
    if text:
        writer.set_info(generic.DictionaryObject({generic.NameObject("/Subject"): generic.TextStringObject(text)}))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@dataclass
class PdfSigner:
    certificate: asn1_x509.Certificate
    key: asn1_keys.PrivateKeyInfo
    pem: bytes  # the certificate as PEM, for a trust-root file

    @classmethod
    def throwaway(cls, name: str = "kgbridge test signer") -> "PdfSigner":
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.now(UTC)
        cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=False,
                                             data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                             crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
                .sign(key, hashes.SHA256()))
        der_key = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        return cls(asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER)),
                   asn1_keys.PrivateKeyInfo.load(der_key), cert.public_bytes(serialization.Encoding.PEM))

    def sign(self, pdf: bytes, times: int = 1) -> bytes:
        """``pdf`` with ``times`` more signatures, each in its own incremental revision."""
        signer = signers.SimpleSigner(signing_cert=self.certificate, signing_key=self.key, cert_registry=None)
        for _ in range(times):
            writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
            existing = sum(1 for _ in writer.prev.embedded_signatures)
            out = signers.sign_pdf(writer, signers.PdfSignatureMetadata(field_name=f"Signature{existing + 1}"),
                                   signer=signer)
            pdf = out.getvalue()
        return pdf

    def for_fake(self, times: int | None = None):
        """What ``FakeGmoSign(sign_documents=...)`` calls on completion: a real PDF (named after the
        fake's placeholder) signed once per signer, or ``times`` times."""
        return lambda placeholder, signer_count: self.sign(blank_pdf(placeholder.decode("ascii", "replace")),
                                                           times=signer_count if times is None else times)
