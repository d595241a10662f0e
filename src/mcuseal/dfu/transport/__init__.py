"""Connectors: async callables returning a connected smpclient ``SMPTransport``.

A :class:`~mcuseal.dfu.link.DeviceLink` calls its connector again to reconnect, so each
call builds a fresh transport.  Technologies: :mod:`.udp`, :mod:`.serial`, :mod:`.ble`
(bleak, with the ``BleakClient`` class injectable) and :mod:`.hci` (bleak driven through
bumble's host stack on an HCI controller: a USB dongle or HCI over TCP).
"""
