from commerce_kit.cli import main as run


def main() -> None:
    from ranking_service.demo import load
    from ranking_service.migrations import MIGRATIONS
    from ranking_service.settings import RankingSettings

    run(
        package="ranking_service",
        settings_type=RankingSettings,
        migrations=MIGRATIONS,
        demo_data=load,
    )


if __name__ == "__main__":
    main()
