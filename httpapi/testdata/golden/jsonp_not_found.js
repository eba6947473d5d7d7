cb({"status":404,"error":true,"message":"Not found: '/nope'","service":"Presence"})
