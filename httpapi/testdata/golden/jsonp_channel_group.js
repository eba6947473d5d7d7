$({"status":200,"message":"OK","service":"channel-registry","error":false})
