from pathlib import Path

from commerce_kit.cli import main as run


def main() -> None:
    from ranking_service.demo import load
    from ranking_service.settings import RankingSettings

    run(
        package="ranking_service",
        settings_type=RankingSettings,
        migrations=Path(__file__).parent / "migrations",
        demo_data=load,
    )


if __name__ == "__main__":
    main()
