# SIGNING_SCRIPT wrapper: run the signing script the build would have used, then mcuseal.
#
# Zephyr includes one signing script per image (zephyr_property_target's SIGNING_SCRIPT,
# default ${ZEPHYR_BASE}/cmake/mcuboot.cmake).  Running it first keeps every output the SDK
# makes (zephyr.signed.bin/.hex, runners.yaml entries); the mcuseal step is appended to the
# same post-build commands, so it runs after them.

include(${MCUSEAL_WRAPPED_SIGNING_SCRIPT})
set_property(GLOBAL APPEND PROPERTY extra_post_build_commands COMMAND ${MCUSEAL_POST_BUILD_COMMAND})
