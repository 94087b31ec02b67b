from commerce_kit.cli import main as run


def main() -> None:
    from payment_service.migrations import MIGRATIONS
    from payment_service.settings import PaymentSettings

    run(
        package="payment_service",
        settings_type=PaymentSettings,
        migrations=MIGRATIONS,
    )


if __name__ == "__main__":
    main()
