from pathlib import Path

from commerce_kit.cli import main as run


def main() -> None:
    from payment_service.settings import PaymentSettings

    run(
        package="payment_service",
        settings_type=PaymentSettings,
        migrations=Path(__file__).parent / "migrations",
    )


if __name__ == "__main__":
    main()
