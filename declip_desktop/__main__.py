import multiprocessing

# in a frozen bundle a spawned worker (declip synth --workers) re-runs this executable: let it do the
# worker's job and exit instead of opening a second application window
multiprocessing.freeze_support()

from declip_desktop.app import main  # noqa: E402

raise SystemExit(main())
