"""Building blocks every page uses: the router, sign-in, session state and widgets."""
