from declip_desktop.app import main

raise SystemExit(main())
