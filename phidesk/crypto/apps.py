from django.apps import AppConfig


class CryptoConfig(AppConfig):
    name = "phidesk.crypto"
    label = "crypto"
    verbose_name = "Encryption at rest"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from phidesk.core.fields import install_cipher
        from phidesk.crypto import checks  # noqa: F401 - registers the system checks
        from phidesk.crypto.cipher import CryptoFieldCipher

        install_cipher(CryptoFieldCipher())
