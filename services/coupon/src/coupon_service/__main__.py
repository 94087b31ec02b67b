from commerce_kit.cli import main as run


def main() -> None:
    from coupon_service.demo import load
    from coupon_service.migrations import MIGRATIONS
    from coupon_service.settings import CouponSettings

    run(
        package="coupon_service",
        settings_type=CouponSettings,
        migrations=MIGRATIONS,
        demo_data=load,
    )


if __name__ == "__main__":
    main()
