from commerce_kit.cli import main as run


def main() -> None:
    from order_service.demo import load
    from order_service.migrations import MIGRATIONS
    from order_service.settings import OrderSettings

    run(
        package="order_service",
        settings_type=OrderSettings,
        migrations=MIGRATIONS,
        demo_data=load,
    )


if __name__ == "__main__":
    main()
