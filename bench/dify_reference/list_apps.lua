-- wrk script: GET /openapi/v1/apps for one workspace and page, as difyctl asks for it.
-- Works against either server (the reference or the read model):
--   TOKEN=dfoa_... WORKSPACE_ID=<uuid> PAGE=1 wrk -t1 -c64 -d10s --latency \
--     -s bench/dify_reference/list_apps.lua http://127.0.0.1:8010

local token = os.getenv("TOKEN")
local workspace_id = os.getenv("WORKSPACE_ID")
if not token or not workspace_id then
  io.stderr:write("list_apps.lua: set TOKEN and WORKSPACE_ID\n")
  os.exit(2)
end
local page = os.getenv("PAGE") or "1"
local limit = os.getenv("LIMIT") or "20"

wrk.method = "GET"
wrk.path = "/openapi/v1/apps?workspace_id=" .. workspace_id .. "&page=" .. page .. "&limit=" .. limit
wrk.headers["Authorization"] = "Bearer " .. token
