"""The Team page (hosted mode): everybody's runs."""
