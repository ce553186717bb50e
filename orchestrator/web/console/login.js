// Says so when the last sign-in failed (the server sends ?failed=1 back).
if (new URLSearchParams(location.search).has("failed")) document.getElementById("failed").hidden = false;
