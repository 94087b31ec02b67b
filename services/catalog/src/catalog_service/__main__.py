from commerce_kit.cli import main as run


def main() -> None:
    from catalog_service.demo import load
    from catalog_service.migrations import MIGRATIONS
    from catalog_service.settings import CatalogSettings

    run(
        package="catalog_service",
        settings_type=CatalogSettings,
        migrations=MIGRATIONS,
        demo_data=load,
    )


if __name__ == "__main__":
    main()
