"""GMO Sign connector (電子印鑑GMOサイン): interface, live client, fake."""

from connectors.gmosign.errors import (  # noqa: F401
    GmoSignConfigError,
    GmoSignConnectionError,
    GmoSignDataError,
    GmoSignError,
    GmoSignNotFound,
    GmoSignNotSupported,
    GmoSignOutcomeUnknown,
    GmoSignTransientError,
)
from connectors.gmosign.interface import (  # noqa: F401
    Approver,
    CallbackHook,
    DocumentRef,
    EnvelopeInfo,
    EnvelopeState,
    GmoSignClient,
    SentEnvelope,
    SignatureRequest,
    Signer,
    TemplateSend,
)
