from commerce_kit.cli import main as run


def main() -> None:
    from user_service.demo import load
    from user_service.migrations import MIGRATIONS
    from user_service.settings import UserSettings

    run(
        package="user_service",
        settings_type=UserSettings,
        migrations=MIGRATIONS,
        demo_data=load,
    )


if __name__ == "__main__":
    main()
