# The web console's files, embedded in the binary (daemon/web_console.h): our own, in
# orchestrator/web/console/, and the browser libraries of package.json, pinned by
# package-lock.json and installed at build time with `npm ci` into the build tree. The
# daemon then serves them with no network and no third-party origin.
#
# Embedding: an assembler file of `.incbin`s (g++ 12 has no #embed), and a C++ file that
# lists them with their URL paths and content types. Written at build time by
# embed_web_assets.cmake, so a changed file is embedded again.

find_program(BREAKFIX_NPM npm)
if(NOT BREAKFIX_NPM)
  message(FATAL_ERROR "npm not found: the web console's browser libraries come from the npm registry "
                      "(apt-get install npm; provisioning/setup-host.sh does)")
endif()
enable_language(ASM)

set(BREAKFIX_WEB_SOURCE ${CMAKE_SOURCE_DIR}/orchestrator/web)
set(BREAKFIX_WEB_NPM ${CMAKE_BINARY_DIR}/web-npm)
add_custom_command(
  OUTPUT ${BREAKFIX_WEB_NPM}/node_modules/.package-lock.json
  COMMAND ${CMAKE_COMMAND} -E make_directory ${BREAKFIX_WEB_NPM}
  COMMAND ${CMAKE_COMMAND} -E copy ${BREAKFIX_WEB_SOURCE}/package.json ${BREAKFIX_WEB_SOURCE}/package-lock.json
          ${BREAKFIX_WEB_NPM}/
  COMMAND ${BREAKFIX_NPM} ci --ignore-scripts --no-audit --no-fund --loglevel=error
  WORKING_DIRECTORY ${BREAKFIX_WEB_NPM}
  DEPENDS ${BREAKFIX_WEB_SOURCE}/package.json ${BREAKFIX_WEB_SOURCE}/package-lock.json
  COMMENT "npm ci: the web console's browser libraries (orchestrator/web/package-lock.json)"
  VERBATIM)

# URL path | content type (text types are sent as UTF-8) | file
set(BREAKFIX_WEB_FILES
  "/ui/index.html|text/html|${BREAKFIX_WEB_SOURCE}/console/index.html"
  "/ui/login.html|text/html|${BREAKFIX_WEB_SOURCE}/console/login.html"
  "/ui/login.js|text/javascript|${BREAKFIX_WEB_SOURCE}/console/login.js"
  "/ui/app.js|text/javascript|${BREAKFIX_WEB_SOURCE}/console/app.js"
  "/ui/app.css|text/css|${BREAKFIX_WEB_SOURCE}/console/app.css"
  "/ui/assets/xterm.js|text/javascript|${BREAKFIX_WEB_NPM}/node_modules/@xterm/xterm/lib/xterm.js"
  "/ui/assets/xterm.css|text/css|${BREAKFIX_WEB_NPM}/node_modules/@xterm/xterm/css/xterm.css"
  "/ui/assets/asciinema-player.min.js|text/javascript|${BREAKFIX_WEB_NPM}/node_modules/asciinema-player/dist/bundle/asciinema-player.min.js"
  "/ui/assets/asciinema-player.css|text/css|${BREAKFIX_WEB_NPM}/node_modules/asciinema-player/dist/bundle/asciinema-player.css"
)
set(BREAKFIX_WEB_LIST ${CMAKE_BINARY_DIR}/web_assets.list)
file(WRITE ${BREAKFIX_WEB_LIST} "")
set(BREAKFIX_WEB_DEPENDS ${BREAKFIX_WEB_NPM}/node_modules/.package-lock.json)
foreach(entry IN LISTS BREAKFIX_WEB_FILES)
  file(APPEND ${BREAKFIX_WEB_LIST} "${entry}\n")
  string(REGEX REPLACE "^[^|]*\\|[^|]*\\|" "" file "${entry}")
  if(file MATCHES "^${BREAKFIX_WEB_SOURCE}")
    list(APPEND BREAKFIX_WEB_DEPENDS ${file})
  endif()
endforeach()
add_custom_command(
  OUTPUT ${CMAKE_BINARY_DIR}/web_assets.S ${CMAKE_BINARY_DIR}/web_assets.cpp
  COMMAND ${CMAKE_COMMAND} -DLIST=${BREAKFIX_WEB_LIST} -DOUT_DIR=${CMAKE_BINARY_DIR}
          -P ${BREAKFIX_WEB_SOURCE}/embed_web_assets.cmake
  DEPENDS ${BREAKFIX_WEB_DEPENDS} ${BREAKFIX_WEB_LIST} ${BREAKFIX_WEB_SOURCE}/embed_web_assets.cmake
  COMMENT "Embedding the web console's files"
  VERBATIM)
set(BREAKFIX_WEB_SOURCES ${CMAKE_BINARY_DIR}/web_assets.S ${CMAKE_BINARY_DIR}/web_assets.cpp)
# The assembler does not tell the build which files its .incbin read: the object is
# rebuilt when any of them changes.
set_source_files_properties(${CMAKE_BINARY_DIR}/web_assets.S PROPERTIES OBJECT_DEPENDS "${BREAKFIX_WEB_DEPENDS}")
