from pathlib import Path

from commerce_kit.cli import main as run


def main() -> None:
    from user_service.demo import load
    from user_service.settings import UserSettings

    run(
        package="user_service",
        settings_type=UserSettings,
        migrations=Path(__file__).parent / "migrations",
        demo_data=load,
    )


if __name__ == "__main__":
    main()
