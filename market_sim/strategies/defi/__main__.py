from market_sim.strategies.defi import main

raise SystemExit(main())
