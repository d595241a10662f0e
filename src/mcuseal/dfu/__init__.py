"""Deliver MCUboot images to devices over SMP (MCUmgr): BLE, UDP and serial.

* :mod:`mcuseal.dfu.upload` -- the pipelined upload engine (:func:`~mcuseal.dfu.upload.upload`).
* :mod:`mcuseal.dfu.flow` -- the whole DFU: state, upload, check, mark, reset, confirm
  (:func:`~mcuseal.dfu.flow.run_dfu`).
* :mod:`mcuseal.dfu.link` -- a reconnectable connection (:class:`~mcuseal.dfu.link.DeviceLink`).
* :mod:`mcuseal.dfu.transport` -- connectors for BLE (bleak or bumble), UDP and serial.
* :mod:`mcuseal.dfu.package` -- signed images and ``dfu_application.zip``.
* :mod:`mcuseal.dfu.sim` -- a virtual MCUboot device to rehearse all of it.

Submodules are imported on demand: importing :mod:`mcuseal.dfu` costs nothing.
"""
